-- vsa_near_duplicates(tbl, vec_col, threshold := 0.9, k := 10): pairs of
-- distinct rows of tbl whose vectors score at least threshold, each pair once.
-- Each row contributes at most its k best partners. Columns: l and r (the two
-- rows as STRUCTs, l the earlier row), score; best pairs first.

CREATE OR REPLACE TEMP MACRO vsa_near_duplicates(
    __vsa_tbl, __vsa_vec_col, threshold := 0.9, k := 10
) AS TABLE
WITH
    __vsa_args AS (
        SELECT
            CASE WHEN threshold IS NULL THEN error('vsa_near_duplicates: threshold must not be NULL.')
                 ELSE threshold::FLOAT END AS __vsa_threshold,
            CASE WHEN k IS NULL OR k < 1 THEN error('vsa_near_duplicates: k must be a positive integer.')
                 ELSE k::BIGINT END AS __vsa_k,
            __vsa_check_column('vsa_near_duplicates', __vsa_tbl, __vsa_vec_col) AS __vsa_ok
    ),
    __vsa_rows AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_id, __vsa_t AS __vsa_row,
               __vsa_t[__vsa_vec_col] AS __vsa_v
        FROM query_table(__vsa_tbl::VARCHAR) __vsa_t
    ),
    __vsa_vecs AS MATERIALIZED (
        SELECT __vsa_id,
               CASE WHEN len(__vsa_v) = ${dim} THEN __vsa_v::FLOAT[${dim}] ELSE error(
                   'vsa_near_duplicates: column ' || __vsa_vec_col || ' holds vectors of length '
                   || len(__vsa_v)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
               END AS __vsa_v
        FROM __vsa_rows WHERE __vsa_v IS NOT NULL
    ),
    __vsa_pairs AS (
        SELECT a.__vsa_id AS __vsa_a, b.__vsa_id AS __vsa_b,
               array_inner_product(a.__vsa_v, b.__vsa_v) AS __vsa_s
        FROM __vsa_vecs a JOIN __vsa_vecs b ON a.__vsa_id <> b.__vsa_id
        WHERE array_inner_product(a.__vsa_v, b.__vsa_v) >= (SELECT __vsa_threshold FROM __vsa_args)
          AND (SELECT __vsa_ok FROM __vsa_args)
    ),
    __vsa_best AS (
        SELECT __vsa_a,
               unnest(max_by(struct_pack(b := __vsa_b, s := __vsa_s),
                             struct_pack(s := __vsa_s, tie := -__vsa_b),
                             (SELECT __vsa_k FROM __vsa_args))) AS __vsa_hit
        FROM __vsa_pairs
        GROUP BY __vsa_a
    ),
    __vsa_unique AS (
        SELECT DISTINCT least(__vsa_a, __vsa_hit.b) AS __vsa_i,
                        greatest(__vsa_a, __vsa_hit.b) AS __vsa_j,
                        __vsa_hit.s AS __vsa_s
        FROM __vsa_best
    )
SELECT x.__vsa_row AS l, y.__vsa_row AS r, __vsa_unique.__vsa_s AS score
FROM __vsa_unique
JOIN __vsa_rows x ON x.__vsa_id = __vsa_unique.__vsa_i
JOIN __vsa_rows y ON y.__vsa_id = __vsa_unique.__vsa_j
ORDER BY score DESC, __vsa_unique.__vsa_i, __vsa_unique.__vsa_j;
