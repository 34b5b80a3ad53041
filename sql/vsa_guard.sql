-- The comparability guard. duckdb_vsa.encode_column() records the encoder
-- configuration that filled a vector column in the column's comment,
-- 'duckdb_vsa:<fingerprint> <configuration>', readable through duckdb_columns().
-- The table macros check the named columns against this connection's encoder
-- (fingerprint ${fingerprint}) and raise an error naming both configurations.
-- __vsa_recorded resolves the table name by duckdb_vsa's one name rule (the rule
-- of DuckDB's binder, so it finds the very table query_table reads); register()
-- fills in its call and the error texts (the one wording of a configuration mismatch).
--
-- The vectors themselves carry their configuration: the last coordinates of every
-- vector vsa_encode makes hold the configuration's marker (see duckdb_vsa.marker).
-- __vsa_foreign(v) is the marker rule: true when v carries another configuration's
-- marker (vectors without any marker are not foreign). register() writes its text.

CREATE OR REPLACE TEMP MACRO __vsa_foreign(__vsa_v) AS (${foreign});

-- true, or an error naming what (a description such as 'the query vector') if vector v
-- carries another configuration's marker.
CREATE OR REPLACE TEMP MACRO __vsa_check_vector(__vsa_who, __vsa_what, __vsa_v) AS
    CASE WHEN __vsa_foreign(__vsa_v) THEN error(${vector_mismatch}) ELSE true END;

-- The recorded comment of column col of table tbl (a name as query_table takes it), or NULL.
CREATE OR REPLACE TEMP MACRO __vsa_recorded(__vsa_tbl, __vsa_col) AS
    ${recorded};

-- true, or an error if column col of tbl was recorded with another configuration.
CREATE OR REPLACE TEMP MACRO __vsa_check_column(__vsa_who, __vsa_tbl, __vsa_col) AS (
    SELECT CASE
        WHEN __vsa_c IS NULL OR regexp_extract(__vsa_c, '^duckdb_vsa:([0-9a-f]+)', 1) = '${fingerprint}'
            THEN true
        ELSE error(${column_mismatch})
    END
    FROM (SELECT __vsa_recorded(__vsa_tbl, __vsa_col) AS __vsa_c)
);

-- true, or an error if two columns were recorded with different configurations, or
-- either with another configuration than this connection's (in that order: one CASE
-- over plain values, because the optimizer may evaluate separate subqueries in any order).
CREATE OR REPLACE TEMP MACRO __vsa_check_pair(__vsa_who, __vsa_ltbl, __vsa_lcol, __vsa_rtbl, __vsa_rcol) AS (
    SELECT CASE
        WHEN __vsa_lfp IS NOT NULL AND __vsa_rfp IS NOT NULL AND __vsa_lfp <> __vsa_rfp
            THEN error(${pair_mismatch})
        WHEN __vsa_lfp IS NOT NULL AND __vsa_lfp <> '${fingerprint}'
            THEN error(${left_mismatch})
        WHEN __vsa_rfp IS NOT NULL AND __vsa_rfp <> '${fingerprint}'
            THEN error(${right_mismatch})
        ELSE true
    END
    FROM (
        SELECT __vsa_l, __vsa_r,
               regexp_extract(__vsa_l, '^duckdb_vsa:([0-9a-f]+)', 1) AS __vsa_lfp,
               regexp_extract(__vsa_r, '^duckdb_vsa:([0-9a-f]+)', 1) AS __vsa_rfp
        FROM (SELECT __vsa_recorded(__vsa_ltbl, __vsa_lcol) AS __vsa_l,
                     __vsa_recorded(__vsa_rtbl, __vsa_rcol) AS __vsa_r)
    )
);

-- vsa_column_info(tbl, col): the configuration recorded for a vector column, and
-- whether it matches this connection's encoder; NULL if nothing is recorded.
CREATE OR REPLACE TEMP MACRO vsa_column_info(__vsa_tbl, __vsa_col) AS (
    SELECT CASE WHEN __vsa_c IS NULL THEN NULL ELSE struct_pack(
        fingerprint := regexp_extract(__vsa_c, '^duckdb_vsa:([0-9a-f]+)', 1),
        configuration := regexp_replace(__vsa_c, '^duckdb_vsa:[0-9a-f]+ ', ''),
        comparable := regexp_extract(__vsa_c, '^duckdb_vsa:([0-9a-f]+)', 1) = '${fingerprint}'
    ) END
    FROM (SELECT __vsa_recorded(__vsa_tbl, __vsa_col) AS __vsa_c)
);
