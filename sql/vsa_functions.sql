-- Scalar macros over the vsa_encode UDF and DuckDB's vector builtins.
-- ${dim}, ${version}, ${seed}, ${binding} and ${fingerprint} are filled in by
-- duckdb_vsa.register() with this connection's encoder configuration, ${package_version}
-- with the package's version.

CREATE OR REPLACE TEMP MACRO vsa_cosine(a, b) AS (
    CASE
        WHEN a IS NULL OR b IS NULL THEN NULL
        WHEN len(a) <> ${dim} OR len(b) <> ${dim} THEN error(
            'vsa_cosine: expected two vectors of length ${dim} (FLOAT[${dim}], as vsa_encode makes '
            || 'on this connection), got lengths ' || len(a)::VARCHAR || ' and ' || len(b)::VARCHAR
            || '. Encode both sides with the same configuration.')
        -- The marker rule: a vector of another configuration is refused (never false).
        WHEN NOT (__vsa_check_vector('vsa_cosine', 'its first vector', a::FLOAT[${dim}])
                  AND __vsa_check_vector('vsa_cosine', 'its second vector', b::FLOAT[${dim}]))
            THEN NULL
        ELSE array_cosine_similarity(a::FLOAT[${dim}], b::FLOAT[${dim}])
    END
);

CREATE OR REPLACE TEMP MACRO vsa_similarity(doc_a, doc_b) AS
    vsa_cosine(vsa_encode(doc_a), vsa_encode(doc_b));

CREATE OR REPLACE TEMP MACRO vsa_info() AS struct_pack(
    version := ${version}::INTEGER,
    dim := ${dim}::INTEGER,
    seed := ${seed}::BIGINT,
    binding := '${binding}',
    fingerprint := '${fingerprint}'
);

-- The package's version, beside DuckDB's version(); the encoder version, which
-- decides whether vectors are comparable, is vsa_info().version.
CREATE OR REPLACE TEMP MACRO vsa_version() AS '${package_version}';
