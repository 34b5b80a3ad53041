-- Probing and explaining (the exact inverse of MBAT's orthogonal binding).
-- __vsa_probe_${fingerprint}, __vsa_field_value_${fingerprint} and
-- __vsa_explain_${fingerprint} are this configuration's Python functions.

-- vsa_probe(vec, path): the content vector of the field at path ($$.a.b, $$.items[2],
-- $$.items[*] for the bag part of an array), plus noise. NULL in, NULL out.
CREATE OR REPLACE TEMP MACRO vsa_probe(vec, path) AS (
    CASE
        WHEN vec IS NULL OR path IS NULL THEN NULL
        WHEN len(vec) <> ${dim} THEN error(
            'vsa_probe: expected a vector of length ${dim} (FLOAT[${dim}], as vsa_encode makes on '
            || 'this connection), got length ' || len(vec)::VARCHAR || '.')
        ELSE __vsa_probe_${fingerprint}(vec::FLOAT[${dim}], path::VARCHAR)
    END
);

-- vsa_field_similarity(vec, path, value_json): how well the JSON value fits the field
-- at path of the encoded document (cosine of the probe and the value's vector).
CREATE OR REPLACE TEMP MACRO vsa_field_similarity(vec, path, value_json) AS
    array_cosine_similarity(
        vsa_probe(vec, path), __vsa_field_value_${fingerprint}(path::VARCHAR, value_json));

-- vsa_explain(doc_a, doc_b): LIST(STRUCT(path, contribution)), largest first, summing
-- to vsa_similarity(doc_a, doc_b): which fields made the two documents similar.
CREATE OR REPLACE TEMP MACRO vsa_explain(doc_a, doc_b) AS
    __vsa_explain_${fingerprint}(doc_a, doc_b);

-- vsa_decode(tbl, vec_col, path, candidates_tbl, value_col, k := 5): for every row of
-- tbl with a vector, the k values of candidates_tbl.value_col (JSON values) that best
-- fit the field at path. Columns: r (the row as STRUCT), value, score, rank (1 = best).
CREATE OR REPLACE TEMP MACRO vsa_decode(
    __vsa_tbl, __vsa_vec_col, __vsa_path, __vsa_cand_tbl, __vsa_value_col, k := 5
) AS TABLE
WITH
    __vsa_args AS (
        SELECT
            CASE WHEN k IS NULL OR k < 1 THEN error('vsa_decode: k must be a positive integer.')
                 ELSE k::BIGINT END AS __vsa_k,
            CASE WHEN __vsa_path IS NULL THEN error('vsa_decode: the path is NULL.')
                 ELSE __vsa_path::VARCHAR END AS __vsa_p,
            __vsa_check_column('vsa_decode', __vsa_tbl, __vsa_vec_col) AS __vsa_ok
    ),
    __vsa_rows AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_id, __vsa_t AS __vsa_row,
               __vsa_t[__vsa_vec_col] AS __vsa_v
        FROM query_table(__vsa_tbl::VARCHAR) __vsa_t
    ),
    __vsa_probed AS MATERIALIZED (
        SELECT __vsa_id, vsa_probe(__vsa_v, (SELECT __vsa_p FROM __vsa_args)) AS __vsa_pv
        FROM __vsa_rows
        WHERE __vsa_v IS NOT NULL
          AND CASE WHEN (SELECT __vsa_ok FROM __vsa_args)
                   THEN __vsa_check_vector('vsa_decode', 'column ' || __vsa_vec_col || ' of '
                                           || __vsa_tbl, __vsa_v)
                   ELSE false END
    ),
    __vsa_values AS (
        SELECT DISTINCT __vsa_c[__vsa_value_col] AS __vsa_value
        FROM query_table(__vsa_cand_tbl::VARCHAR) __vsa_c
    ),
    __vsa_cands AS MATERIALIZED (
        SELECT row_number() OVER (ORDER BY __vsa_value::VARCHAR) AS __vsa_cid, __vsa_value,
               __vsa_field_value_${fingerprint}((SELECT __vsa_p FROM __vsa_args), __vsa_value)
                   AS __vsa_cv
        FROM __vsa_values
        WHERE __vsa_value IS NOT NULL
    ),
    __vsa_best AS (
        SELECT __vsa_id,
               max_by(struct_pack(c := __vsa_cid, s := __vsa_s),
                      struct_pack(s := __vsa_s, tie := -__vsa_cid),
                      (SELECT __vsa_k FROM __vsa_args)) AS __vsa_top
        FROM (
            SELECT __vsa_probed.__vsa_id, __vsa_cands.__vsa_cid,
                   array_cosine_similarity(__vsa_probed.__vsa_pv, __vsa_cands.__vsa_cv) AS __vsa_s
            FROM __vsa_probed, __vsa_cands
        )
        GROUP BY __vsa_id
    ),
    __vsa_hits AS (
        SELECT __vsa_id, unnest(__vsa_top) AS __vsa_hit, generate_subscripts(__vsa_top, 1) AS __vsa_rank
        FROM __vsa_best
    )
SELECT __vsa_rows.__vsa_row AS r, __vsa_cands.__vsa_value AS value,
       __vsa_hits.__vsa_hit.s AS score, __vsa_hits.__vsa_rank AS rank
FROM __vsa_hits
JOIN __vsa_rows ON __vsa_rows.__vsa_id = __vsa_hits.__vsa_id
JOIN __vsa_cands ON __vsa_cands.__vsa_cid = __vsa_hits.__vsa_hit.c
ORDER BY __vsa_hits.__vsa_id, __vsa_hits.__vsa_rank;
