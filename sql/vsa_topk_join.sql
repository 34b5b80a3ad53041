-- vsa_topk_join(left_tbl, left_col, right_tbl, right_col, k := 5): for every
-- row of left_tbl with a vector, its k most similar rows of right_tbl.
-- Columns: l (left row as STRUCT), r (right row as STRUCT), score, rank (1 = best).
-- Ties rank the earlier right row first. Rows are ranked by id and joined back
-- after, so whole rows are never dragged through the aggregate.
-- As in vsa_search, an index of the right table's column answers when it can
-- (one matrix product per chunk of left rows); else DuckDB's builtins score every pair.

CREATE OR REPLACE TEMP MACRO __vsa_topk_join(
    __vsa_who, __vsa_left_tbl, __vsa_left_col, __vsa_right_tbl, __vsa_right_col, __vsa_index,
    __vsa_k_arg
) AS TABLE
WITH
    __vsa_args AS MATERIALIZED (
        SELECT CASE WHEN __vsa_k_arg IS NULL OR __vsa_k_arg < 1
                    THEN error(__vsa_who || ': k must be a positive integer.')
                    ELSE __vsa_k_arg::BIGINT END AS __vsa_k,
               __vsa_check_pair(__vsa_who, __vsa_left_tbl, __vsa_left_col,
                                __vsa_right_tbl, __vsa_right_col) AS __vsa_ok
    ),
    __vsa_gate AS MATERIALIZED (
        SELECT CASE WHEN __vsa_ok
                    THEN __vsa_ticket_of('join', __vsa_right_tbl, __vsa_right_col, __vsa_index)
               END AS __vsa_ticket
        FROM __vsa_args
    ),
    __vsa_left AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_lid, __vsa_t AS __vsa_lrow,
               __vsa_t[__vsa_left_col] AS __vsa_lv
        FROM query_table(__vsa_left_tbl::VARCHAR) __vsa_t
    ),
    __vsa_lvec AS (
        SELECT __vsa_lid,
               CASE WHEN len(__vsa_lv) = ${dim} THEN __vsa_lv::FLOAT[${dim}] ELSE error(
                   __vsa_who || ': column ' || __vsa_left_col || ' holds vectors of length '
                   || len(__vsa_lv)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
               END AS __vsa_lv
        FROM __vsa_left
        WHERE __vsa_lv IS NOT NULL
          -- The marker rule on every left vector (each is a query), after the recorded
          -- configurations (their message names both) ...
          AND CASE WHEN (SELECT __vsa_ok FROM __vsa_args)
                   THEN __vsa_check_vector(__vsa_who, 'column ' || __vsa_left_col || ' of '
                                           || __vsa_left_tbl, __vsa_lv)
                   ELSE false END
    ),
    -- The fast branch.
    __vsa_fbest AS (
        SELECT __vsa_lid, __vsa_topk(__vsa_ticket, __vsa_lv::FLOAT[], __vsa_k) AS __vsa_top
        FROM __vsa_lvec, __vsa_gate, __vsa_args
        WHERE __vsa_ticket IS NOT NULL AND __vsa_ok
    ),
    __vsa_fhits AS (
        SELECT __vsa_lid, unnest(__vsa_top) AS __vsa_hit,
               generate_subscripts(__vsa_top, 1) AS __vsa_rank
        FROM __vsa_fbest
    ),
    __vsa_fast AS (
        SELECT __vsa_fhits.__vsa_lid, __vsa_r.__vsa_row AS __vsa_rrow,
               __vsa_fhits.__vsa_hit.score AS __vsa_s, __vsa_fhits.__vsa_rank::BIGINT AS __vsa_rank
        FROM __vsa_fhits
        JOIN query(__vsa_plan_of('rows', 'join', __vsa_right_tbl, __vsa_right_col, __vsa_index)) __vsa_r
          ON __vsa_r.__vsa_rowid = __vsa_fhits.__vsa_hit.rowid
    ),
    -- The builtin branch: reads the right table only if there is no ticket.
    __vsa_right AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_rid, __vsa_t AS __vsa_rrow,
               __vsa_t[__vsa_right_col] AS __vsa_rv
        FROM (SELECT * FROM query_table(__vsa_right_tbl::VARCHAR)
              LIMIT (SELECT CASE WHEN __vsa_ticket IS NULL THEN NULL ELSE 0 END FROM __vsa_gate)) __vsa_t
    ),
    __vsa_rvec AS (
        SELECT __vsa_rid,
               CASE WHEN len(__vsa_rv) = ${dim} THEN __vsa_rv::FLOAT[${dim}] ELSE error(
                   __vsa_who || ': column ' || __vsa_right_col || ' holds vectors of length '
                   || len(__vsa_rv)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
               END AS __vsa_rv
        FROM __vsa_right
        WHERE __vsa_rv IS NOT NULL
          -- ... and on every right vector the scan reads (an index checks its own).
          AND CASE WHEN (SELECT __vsa_ok FROM __vsa_args)
                   THEN __vsa_check_vector(__vsa_who, 'column ' || __vsa_right_col || ' of '
                                           || __vsa_right_tbl, __vsa_rv)
                   ELSE false END
    ),
    __vsa_pairs AS (
        SELECT __vsa_lid, __vsa_rid, array_inner_product(__vsa_lv, __vsa_rv) AS __vsa_s
        FROM __vsa_lvec, __vsa_rvec
        WHERE (SELECT __vsa_ok FROM __vsa_args)
    ),
    __vsa_best AS (
        SELECT __vsa_lid,
               max_by(struct_pack(id := __vsa_rid, s := __vsa_s),
                      struct_pack(s := __vsa_s, tie := -__vsa_rid),
                      (SELECT __vsa_k FROM __vsa_args)) AS __vsa_top
        FROM __vsa_pairs
        GROUP BY __vsa_lid
    ),
    __vsa_hits AS (
        SELECT __vsa_lid, unnest(__vsa_top) AS __vsa_hit, generate_subscripts(__vsa_top, 1) AS __vsa_rank
        FROM __vsa_best
    ),
    __vsa_slow AS (
        SELECT __vsa_hits.__vsa_lid, __vsa_right.__vsa_rrow, __vsa_hits.__vsa_hit.s AS __vsa_s,
               __vsa_hits.__vsa_rank::BIGINT AS __vsa_rank
        FROM __vsa_hits
        JOIN __vsa_right ON __vsa_right.__vsa_rid = __vsa_hits.__vsa_hit.id
    ),
    __vsa_matches AS (
        SELECT __vsa_lid, __vsa_rrow, __vsa_s, __vsa_rank FROM __vsa_fast
        UNION ALL
        SELECT __vsa_lid, __vsa_rrow, __vsa_s, __vsa_rank FROM __vsa_slow
    )
SELECT __vsa_left.__vsa_lrow AS l, __vsa_matches.__vsa_rrow AS r,
       __vsa_matches.__vsa_s AS score, __vsa_matches.__vsa_rank AS rank
FROM __vsa_matches
JOIN __vsa_left ON __vsa_left.__vsa_lid = __vsa_matches.__vsa_lid
ORDER BY __vsa_matches.__vsa_lid, __vsa_matches.__vsa_rank;

CREATE OR REPLACE TEMP MACRO vsa_topk_join(
    __vsa_left_tbl, __vsa_left_col, __vsa_right_tbl, __vsa_right_col, k := 5
) AS TABLE
SELECT * FROM __vsa_topk_join('vsa_topk_join', __vsa_left_tbl, __vsa_left_col, __vsa_right_tbl,
                              __vsa_right_col, NULL, k);
