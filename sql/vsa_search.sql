-- vsa_search(tbl, vec_col, query, k := 10): the k rows of tbl whose vectors are
-- most similar to query, best first (ties: earlier row first). Columns: score,
-- then every column of tbl (score comes first so that it names the similarity
-- even when tbl has a column of that name).
-- Encoder vectors are unit length, so the inner product is the cosine.
-- Positional parameters carry a __vsa_ prefix and named ones are read in a
-- scope without table columns, so no column of tbl can capture them.

CREATE OR REPLACE TEMP MACRO vsa_search(__vsa_tbl, __vsa_vec_col, __vsa_query, k := 10) AS TABLE
WITH
    __vsa_args AS (
        SELECT
            CASE
                WHEN __vsa_query IS NULL THEN error('vsa_search: the query vector is NULL.')
                WHEN len(__vsa_query) <> ${dim} THEN error(
                    'vsa_search: the query vector has length ' || len(__vsa_query)::VARCHAR
                    || ' but this connection''s encoder makes FLOAT[${dim}]; encode the query '
                    || 'with vsa_encode on the same configuration.')
                ELSE __vsa_query::FLOAT[${dim}]
            END AS __vsa_q,
            CASE WHEN k IS NULL OR k < 1 THEN error('vsa_search: k must be a positive integer.')
                 ELSE k::BIGINT END AS __vsa_k,
            __vsa_check_column('vsa_search', __vsa_tbl, __vsa_vec_col) AS __vsa_ok
    ),
    __vsa_rows AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_id, __vsa_t AS __vsa_row,
               __vsa_t[__vsa_vec_col] AS __vsa_v
        FROM query_table(__vsa_tbl::VARCHAR) __vsa_t
    ),
    __vsa_scored AS (
        SELECT __vsa_id, __vsa_row,
               array_inner_product(
                   CASE WHEN len(__vsa_v) = ${dim} THEN __vsa_v::FLOAT[${dim}] ELSE error(
                       'vsa_search: column ' || __vsa_vec_col || ' holds vectors of length '
                       || len(__vsa_v)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
                   END,
                   (SELECT __vsa_q FROM __vsa_args)) AS __vsa_score
        FROM __vsa_rows
        WHERE __vsa_v IS NOT NULL AND (SELECT __vsa_ok FROM __vsa_args)
    )
SELECT __vsa_score AS score, __vsa_row.*
FROM __vsa_scored
ORDER BY __vsa_score DESC, __vsa_id
LIMIT (SELECT __vsa_k FROM __vsa_args);
