-- vsa_topk_join(left_tbl, left_col, right_tbl, right_col, k := 5): for every
-- row of left_tbl with a vector, its k most similar rows of right_tbl.
-- Columns: l (left row as STRUCT), r (right row as STRUCT), score, rank (1 = best).
-- Ties rank the earlier right row first. Rows are ranked by id and joined back
-- after, so whole rows are never dragged through the aggregate.

CREATE OR REPLACE TEMP MACRO vsa_topk_join(
    __vsa_left_tbl, __vsa_left_col, __vsa_right_tbl, __vsa_right_col, k := 5
) AS TABLE
WITH
    __vsa_args AS (
        SELECT CASE WHEN k IS NULL OR k < 1 THEN error('vsa_topk_join: k must be a positive integer.')
                    ELSE k::BIGINT END AS __vsa_k,
               __vsa_check_pair('vsa_topk_join', __vsa_left_tbl, __vsa_left_col,
                                __vsa_right_tbl, __vsa_right_col) AS __vsa_ok
    ),
    __vsa_left AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_lid, __vsa_t AS __vsa_lrow,
               __vsa_t[__vsa_left_col] AS __vsa_lv
        FROM query_table(__vsa_left_tbl::VARCHAR) __vsa_t
    ),
    __vsa_right AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_rid, __vsa_t AS __vsa_rrow,
               __vsa_t[__vsa_right_col] AS __vsa_rv
        FROM query_table(__vsa_right_tbl::VARCHAR) __vsa_t
    ),
    __vsa_lvec AS (
        SELECT __vsa_lid,
               CASE WHEN len(__vsa_lv) = ${dim} THEN __vsa_lv::FLOAT[${dim}] ELSE error(
                   'vsa_topk_join: column ' || __vsa_left_col || ' holds vectors of length '
                   || len(__vsa_lv)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
               END AS __vsa_lv
        FROM __vsa_left WHERE __vsa_lv IS NOT NULL
    ),
    __vsa_rvec AS (
        SELECT __vsa_rid,
               CASE WHEN len(__vsa_rv) = ${dim} THEN __vsa_rv::FLOAT[${dim}] ELSE error(
                   'vsa_topk_join: column ' || __vsa_right_col || ' holds vectors of length '
                   || len(__vsa_rv)::VARCHAR || ', but this connection''s encoder makes FLOAT[${dim}].')
               END AS __vsa_rv
        FROM __vsa_right WHERE __vsa_rv IS NOT NULL
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
    )
SELECT __vsa_left.__vsa_lrow AS l, __vsa_right.__vsa_rrow AS r,
       __vsa_hits.__vsa_hit.s AS score, __vsa_hits.__vsa_rank AS rank
FROM __vsa_hits
JOIN __vsa_left ON __vsa_left.__vsa_lid = __vsa_hits.__vsa_lid
JOIN __vsa_right ON __vsa_right.__vsa_rid = __vsa_hits.__vsa_hit.id
ORDER BY __vsa_hits.__vsa_lid, __vsa_hits.__vsa_rank;
