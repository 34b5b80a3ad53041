-- The comparability guard. duckdb_vsa.encode_column() records the encoder
-- configuration that filled a vector column in the column's comment,
-- 'duckdb_vsa:<fingerprint> <configuration>', readable through duckdb_columns().
-- The table macros check the named columns against this connection's encoder
-- (fingerprint ${fingerprint}) and raise an error naming both configurations.

-- The recorded comment of column col of table tbl ('t', 'schema.t' or 'db.schema.t'), or NULL.
CREATE OR REPLACE TEMP MACRO __vsa_recorded(__vsa_tbl, __vsa_col) AS (
    SELECT min(comment) FROM duckdb_columns()
    WHERE lower(column_name) = lower(__vsa_col::VARCHAR)
      AND lower(__vsa_tbl::VARCHAR) IN (
          lower(table_name),
          lower(schema_name || '.' || table_name),
          lower(database_name || '.' || schema_name || '.' || table_name))
      AND comment LIKE 'duckdb_vsa:%'
);

-- true, or an error if column col of tbl was recorded with another configuration.
CREATE OR REPLACE TEMP MACRO __vsa_check_column(__vsa_who, __vsa_tbl, __vsa_col) AS (
    SELECT CASE
        WHEN __vsa_c IS NULL OR regexp_extract(__vsa_c, '^duckdb_vsa:([0-9a-f]+)', 1) = '${fingerprint}'
            THEN true
        ELSE error(
            __vsa_who || ': column ' || __vsa_col::VARCHAR || ' of ' || __vsa_tbl::VARCHAR
            || ' was encoded with ' || regexp_replace(__vsa_c, '^duckdb_vsa:[0-9a-f]+ ', '')
            || ', but this connection''s encoder is ${describe}. Vectors of different '
            || 'configurations are not comparable: register this connection with the column''s '
            || 'configuration, or re-encode the column with duckdb_vsa.encode_column().')
    END
    FROM (SELECT __vsa_recorded(__vsa_tbl, __vsa_col) AS __vsa_c)
);

-- true, or an error if two columns were recorded with different configurations, or
-- either with another configuration than this connection's (in that order: one CASE
-- over plain values, because the optimizer may evaluate separate subqueries in any order).
CREATE OR REPLACE TEMP MACRO __vsa_check_pair(__vsa_who, __vsa_ltbl, __vsa_lcol, __vsa_rtbl, __vsa_rcol) AS (
    SELECT CASE
        WHEN __vsa_lfp IS NOT NULL AND __vsa_rfp IS NOT NULL AND __vsa_lfp <> __vsa_rfp THEN error(
            __vsa_who || ': column ' || __vsa_lcol::VARCHAR || ' of ' || __vsa_ltbl::VARCHAR
            || ' was encoded with ' || regexp_replace(__vsa_l, '^duckdb_vsa:[0-9a-f]+ ', '')
            || ', but column ' || __vsa_rcol::VARCHAR || ' of ' || __vsa_rtbl::VARCHAR
            || ' with ' || regexp_replace(__vsa_r, '^duckdb_vsa:[0-9a-f]+ ', '')
            || '. Vectors of different configurations are not comparable: re-encode one '
            || 'column with duckdb_vsa.encode_column() on a connection registered like the other.')
        WHEN __vsa_lfp IS NOT NULL AND __vsa_lfp <> '${fingerprint}' THEN error(
            __vsa_who || ': column ' || __vsa_lcol::VARCHAR || ' of ' || __vsa_ltbl::VARCHAR
            || ' was encoded with ' || regexp_replace(__vsa_l, '^duckdb_vsa:[0-9a-f]+ ', '')
            || ', but this connection''s encoder is ${describe}. Vectors of different '
            || 'configurations are not comparable: register this connection with the column''s '
            || 'configuration, or re-encode the column with duckdb_vsa.encode_column().')
        WHEN __vsa_rfp IS NOT NULL AND __vsa_rfp <> '${fingerprint}' THEN error(
            __vsa_who || ': column ' || __vsa_rcol::VARCHAR || ' of ' || __vsa_rtbl::VARCHAR
            || ' was encoded with ' || regexp_replace(__vsa_r, '^duckdb_vsa:[0-9a-f]+ ', '')
            || ', but this connection''s encoder is ${describe}. Vectors of different '
            || 'configurations are not comparable: register this connection with the column''s '
            || 'configuration, or re-encode the column with duckdb_vsa.encode_column().')
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
