-- vsa_search(tbl, vec_col, query, k := 10): the k rows of tbl whose vectors are
-- most similar to query, best first (ties: earlier row first). Columns: score,
-- then every column of tbl (score comes first so that it names the similarity
-- even when tbl has a column of that name).
-- Encoder vectors are unit length, so the inner product is the cosine.
-- Positional parameters carry a __vsa_ prefix and named ones are read in a
-- scope without table columns, so no column of tbl can capture them.
--
-- Two branches, of which one runs. The fast one asks __vsa_ticket whether an index
-- of the table and column (a named one, or the exact matrix cached for the column)
-- can answer for this query's snapshot, given the table's signature in that snapshot
-- (its change counter, see duckdb_vsa.db.changes); if so, one matrix product per
-- chunk of queries finds the hits, joined back to the rows by rowid. Otherwise (a
-- view, no triggers on the table, or uncommitted changes to it in this transaction)
-- the builtin branch scores every row with DuckDB's array_inner_product. Both rank
-- alike: score, then the earlier row. __vsa_plan runs while the query is bound
-- (its arguments are constants) and writes the SQL the fast branch reads.

-- __vsa_plan with this connection's database, search path and dimension.
CREATE OR REPLACE TEMP MACRO __vsa_plan_of(__vsa_part, __vsa_kind, __vsa_tbl, __vsa_col, __vsa_index) AS
    __vsa_plan(__vsa_part, __vsa_kind, __vsa_tbl::VARCHAR, __vsa_col::VARCHAR,
               __vsa_index::VARCHAR, current_database(), current_setting('search_path'), ${dim});

-- A ticket to search the index the plan chose, for this query's snapshot; NULL: builtin.
-- It is refused if a vector of the index carries another configuration's marker.
CREATE OR REPLACE TEMP MACRO __vsa_ticket_of(__vsa_kind, __vsa_tbl, __vsa_col, __vsa_index) AS
    __vsa_ticket(
        __vsa_plan_of('handle', __vsa_kind, __vsa_tbl, __vsa_col, __vsa_index),
        (SELECT __vsa_sig FROM query(
            __vsa_plan_of('signature', __vsa_kind, __vsa_tbl, __vsa_col, __vsa_index))),
        '${fingerprint}');

CREATE OR REPLACE TEMP MACRO __vsa_search(
    __vsa_who, __vsa_tbl, __vsa_vec_col, __vsa_index, __vsa_query, __vsa_k_arg
) AS TABLE
WITH
    -- The query once: a macro argument is pasted wherever it is named.
    __vsa_input AS MATERIALIZED (
        SELECT __vsa_query AS __vsa_q0, __vsa_k_arg AS __vsa_k0
    ),
    __vsa_checked AS MATERIALIZED (
        SELECT
            CASE
                WHEN __vsa_q0 IS NULL THEN error(__vsa_who || ': the query vector is NULL.')
                WHEN len(__vsa_q0) <> ${dim} THEN error(
                    __vsa_who || ': the query vector has length ' || len(__vsa_q0)::VARCHAR
                    || ' but this connection''s encoder makes FLOAT[${dim}]; encode the query '
                    || 'with vsa_encode on the same configuration.')
                ELSE __vsa_q0::FLOAT[${dim}]
            END AS __vsa_q,
            CASE WHEN __vsa_k0 IS NULL OR __vsa_k0 < 1
                 THEN error(__vsa_who || ': k must be a positive integer.')
                 ELSE __vsa_k0::BIGINT END AS __vsa_k,
            __vsa_check_column(__vsa_who, __vsa_tbl, __vsa_vec_col) AS __vsa_ok
        FROM __vsa_input
    ),
    __vsa_args AS MATERIALIZED (
        SELECT __vsa_q, __vsa_k,
               -- The recorded configuration first: its message names both configurations.
               CASE WHEN __vsa_ok THEN __vsa_check_vector(__vsa_who, 'the query vector', __vsa_q)
                    ELSE false END AS __vsa_ok
        FROM __vsa_checked
    ),
    __vsa_gate AS MATERIALIZED (
        SELECT CASE WHEN __vsa_ok
                    THEN __vsa_ticket_of('search', __vsa_tbl, __vsa_vec_col, __vsa_index)
               END AS __vsa_ticket
        FROM __vsa_args
    ),
    -- The fast branch.
    __vsa_fast AS (
        SELECT __vsa_topk(__vsa_ticket, __vsa_q::FLOAT[], __vsa_k) AS __vsa_top
        FROM __vsa_gate, __vsa_args
        WHERE __vsa_ticket IS NOT NULL AND __vsa_ok
    ),
    __vsa_hits AS (
        SELECT unnest(__vsa_top) AS __vsa_hit, generate_subscripts(__vsa_top, 1) AS __vsa_rank
        FROM __vsa_fast
    ),
    __vsa_found AS (
        SELECT __vsa_hits.__vsa_hit.score AS __vsa_score, __vsa_r.__vsa_row,
               __vsa_hits.__vsa_rank::BIGINT AS __vsa_rank
        FROM __vsa_hits
        JOIN query(__vsa_plan_of('rows', 'search', __vsa_tbl, __vsa_vec_col, __vsa_index)) __vsa_r
          ON __vsa_r.__vsa_rowid = __vsa_hits.__vsa_hit.rowid
    ),
    -- The builtin branch: reads nothing unless there is no ticket (LIMIT 0 stops the scan).
    __vsa_rows AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_id, __vsa_t AS __vsa_row,
               __vsa_t[__vsa_vec_col] AS __vsa_v
        FROM (SELECT * FROM query_table(__vsa_tbl::VARCHAR)
              LIMIT (SELECT CASE WHEN __vsa_ticket IS NULL THEN NULL ELSE 0 END FROM __vsa_gate)) __vsa_t
    ),
    __vsa_scored AS (
        SELECT __vsa_id, __vsa_row,
               array_inner_product(
                   CASE WHEN len(__vsa_v) = ${dim} THEN __vsa_v::FLOAT[${dim}] ELSE error(
                       __vsa_who || ': column ' || __vsa_vec_col || ' holds vectors of length '
                       || len(__vsa_v)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
                   END,
                   (SELECT __vsa_q FROM __vsa_args)) AS __vsa_score
        FROM __vsa_rows
        WHERE __vsa_v IS NOT NULL
          -- The marker rule on every stored vector (an index checks its own), after the
          -- recorded configuration (its message names both).
          AND CASE WHEN (SELECT __vsa_ok FROM __vsa_args)
                   THEN __vsa_check_vector(__vsa_who, 'column ' || __vsa_vec_col || ' of '
                                           || __vsa_tbl, __vsa_v)
                   ELSE false END
    ),
    __vsa_slow AS (
        SELECT __vsa_score, __vsa_row,
               row_number() OVER (ORDER BY __vsa_score DESC, __vsa_id) AS __vsa_rank
        FROM __vsa_scored
        ORDER BY __vsa_score DESC, __vsa_id
        LIMIT (SELECT __vsa_k FROM __vsa_args)
    )
SELECT __vsa_score AS score, __vsa_row.*
FROM (
    SELECT __vsa_score, __vsa_row, __vsa_rank FROM __vsa_found
    UNION ALL
    SELECT __vsa_score, __vsa_row, __vsa_rank FROM __vsa_slow
)
ORDER BY __vsa_rank;

CREATE OR REPLACE TEMP MACRO vsa_search(__vsa_tbl, __vsa_vec_col, __vsa_query, k := 10) AS TABLE
SELECT * FROM __vsa_search('vsa_search', __vsa_tbl, __vsa_vec_col, NULL, __vsa_query, k);
