-- vsa_near_duplicates(tbl, vec_col, threshold := 0.9, k := 10): pairs of
-- distinct rows of tbl whose vectors score at least threshold, each pair once.
-- Each row contributes at most its k best partners. Columns: l and r (the two
-- rows as STRUCTs, l the earlier row), score; best pairs first.
-- As in vsa_search, an index of the column answers when it can (each row's k best
-- partners, its own row left out, by one matrix product per chunk of rows); else
-- DuckDB's builtins score every pair.

CREATE OR REPLACE TEMP MACRO __vsa_near_duplicates(
    __vsa_who, __vsa_tbl, __vsa_vec_col, __vsa_index, __vsa_threshold_arg, __vsa_k_arg
) AS TABLE
WITH
    __vsa_args AS MATERIALIZED (
        SELECT
            CASE WHEN __vsa_threshold_arg IS NULL
                 THEN error(__vsa_who || ': threshold must not be NULL.')
                 WHEN NOT (__vsa_threshold_arg::DOUBLE BETWEEN -1 AND 1)
                 THEN error(__vsa_who || ': threshold is a cosine between -1 and 1, got '
                            || __vsa_threshold_arg::VARCHAR || '.')
                 ELSE __vsa_threshold_arg::FLOAT END AS __vsa_threshold,
            CASE WHEN __vsa_k_arg IS NULL OR __vsa_k_arg < 1
                 THEN error(__vsa_who || ': k must be a positive integer.')
                 ELSE __vsa_k_arg::BIGINT END AS __vsa_k,
            __vsa_check_column(__vsa_who, __vsa_tbl, __vsa_vec_col) AS __vsa_ok
    ),
    __vsa_gate AS MATERIALIZED (
        SELECT CASE WHEN __vsa_ok
                    THEN __vsa_ticket_of('pairs', __vsa_tbl, __vsa_vec_col, __vsa_index)
               END AS __vsa_ticket
        FROM __vsa_args
    ),
    -- The fast branch: each row's best partners by rowid ...
    __vsa_fbest AS (
        SELECT __vsa_q.__vsa_rowid AS __vsa_a,
               __vsa_topk_excluding(__vsa_ticket, __vsa_q.__vsa_v::FLOAT[], __vsa_k,
                                    __vsa_q.__vsa_rowid) AS __vsa_top
        FROM query(__vsa_plan_of('vectors', 'pairs', __vsa_tbl, __vsa_vec_col, __vsa_index)) __vsa_q,
             __vsa_gate, __vsa_args
        WHERE __vsa_ticket IS NOT NULL AND __vsa_ok
    ),
    __vsa_fpairs AS (
        SELECT __vsa_a, unnest(__vsa_top) AS __vsa_hit
        FROM __vsa_fbest
    ),
    -- ... each pair once (both rows may list it; their scores can differ in the last bit) ...
    __vsa_funique AS (
        SELECT least(__vsa_a, __vsa_hit.rowid) AS __vsa_i,
               greatest(__vsa_a, __vsa_hit.rowid) AS __vsa_j,
               max(__vsa_hit.score) AS __vsa_s
        FROM __vsa_fpairs
        WHERE __vsa_hit.score >= (SELECT __vsa_threshold FROM __vsa_args)
        GROUP BY 1, 2
    ),
    -- ... joined back to the rows.
    __vsa_frows AS MATERIALIZED (
        SELECT __vsa_rowid, __vsa_row
        FROM query(__vsa_plan_of('rows', 'pairs', __vsa_tbl, __vsa_vec_col, __vsa_index))
        WHERE __vsa_rowid IN (SELECT __vsa_i FROM __vsa_funique UNION SELECT __vsa_j FROM __vsa_funique)
    ),
    __vsa_fast AS (
        SELECT __vsa_x.__vsa_row AS __vsa_l, __vsa_y.__vsa_row AS __vsa_r, __vsa_s, __vsa_i, __vsa_j
        FROM __vsa_funique
        JOIN __vsa_frows __vsa_x ON __vsa_x.__vsa_rowid = __vsa_funique.__vsa_i
        JOIN __vsa_frows __vsa_y ON __vsa_y.__vsa_rowid = __vsa_funique.__vsa_j
    ),
    -- The builtin branch: reads the table only if there is no ticket.
    __vsa_rows AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_id, __vsa_t AS __vsa_row,
               __vsa_t[__vsa_vec_col] AS __vsa_v
        FROM (SELECT * FROM query_table(__vsa_tbl::VARCHAR)
              LIMIT (SELECT CASE WHEN __vsa_ticket IS NULL THEN NULL ELSE 0 END FROM __vsa_gate)) __vsa_t
    ),
    __vsa_vecs AS MATERIALIZED (
        SELECT __vsa_id,
               CASE WHEN len(__vsa_v) = ${dim} THEN __vsa_v::FLOAT[${dim}] ELSE error(
                   __vsa_who || ': column ' || __vsa_vec_col || ' holds vectors of length '
                   || len(__vsa_v)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
               END AS __vsa_v
        FROM __vsa_rows
        WHERE __vsa_v IS NOT NULL
          -- The marker rule on every vector (an index checks its own), after the
          -- recorded configuration (its message names both).
          AND CASE WHEN (SELECT __vsa_ok FROM __vsa_args)
                   THEN __vsa_check_vector(__vsa_who, 'column ' || __vsa_vec_col || ' of '
                                           || __vsa_tbl, __vsa_v)
                   ELSE false END
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
    ),
    __vsa_slow AS (
        SELECT x.__vsa_row AS __vsa_l, y.__vsa_row AS __vsa_r, __vsa_s, __vsa_i, __vsa_j
        FROM __vsa_unique
        JOIN __vsa_rows x ON x.__vsa_id = __vsa_unique.__vsa_i
        JOIN __vsa_rows y ON y.__vsa_id = __vsa_unique.__vsa_j
    )
SELECT __vsa_l AS l, __vsa_r AS r, __vsa_s AS score
FROM (
    SELECT __vsa_l, __vsa_r, __vsa_s, __vsa_i, __vsa_j FROM __vsa_fast
    UNION ALL
    SELECT __vsa_l, __vsa_r, __vsa_s, __vsa_i::BIGINT, __vsa_j::BIGINT FROM __vsa_slow
)
ORDER BY score DESC, __vsa_i, __vsa_j;

CREATE OR REPLACE TEMP MACRO vsa_near_duplicates(
    __vsa_tbl, __vsa_vec_col, threshold := 0.9, k := 10
) AS TABLE
SELECT * FROM __vsa_near_duplicates('vsa_near_duplicates', __vsa_tbl, __vsa_vec_col, NULL,
                                    threshold, k);
