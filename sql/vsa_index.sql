-- Macros over the in-memory indexes of duckdb_vsa.build_index(con, table, column, name := ...).
-- They return what vsa_search, vsa_topk_join and vsa_near_duplicates return for the
-- indexed table and column (same rows, ranks and ties), but score a whole chunk of
-- queries with one matrix product instead of one builtin call per pair.
--
-- Freshness: every macro recomputes the table's fingerprint (row count and a hash of
-- each rowid and vector) in the query's own snapshot and hands it to the UDF, which
-- raises instead of answering from an index built before the table changed. UDFs
-- cannot run SQL themselves, so the fingerprint has to come in as an argument.
--
-- __vsa_index_sql(name, part) returns SQL over the indexed table (rowids are not
-- visible through query_table), or its 'table' and 'column' names, evaluated once when
-- the query is bound. Like the builtin macros, each checks the configuration recorded
-- for the indexed column (and the left column) against this connection's encoder.

-- vsa_index_topk(index_name, query, k := 10): the k best hits of one query vector as
-- a list of STRUCT(rowid, score), best first (ties: smaller rowid first); NULL query
-- in, NULL out. For custom SQL: join the rowids back to the table.
CREATE OR REPLACE TEMP MACRO vsa_index_topk(__vsa_index, __vsa_query, k := 10) AS
    CASE WHEN __vsa_check_column('vsa_index_topk',
                                 __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
                                 __vsa_index_sql(__vsa_index::VARCHAR, 'column'))
    THEN __vsa_index_topk(
        __vsa_index::VARCHAR,
        (SELECT __vsa_fingerprint
         FROM query(__vsa_index_sql(__vsa_index::VARCHAR, 'fingerprint'))),
        __vsa_query::FLOAT[],
        CASE WHEN k IS NULL OR k < 1 THEN error('vsa_index_topk: k must be a positive integer.')
             ELSE k::BIGINT END)
    END;

-- vsa_index_search(index_name, query, k := 10): the k rows of the indexed table most
-- similar to query, best first: score, then every column of the table, as vsa_search.
CREATE OR REPLACE TEMP MACRO vsa_index_search(__vsa_index, __vsa_query, k := 10) AS TABLE
WITH
    __vsa_args AS (
        SELECT
            CASE WHEN __vsa_query IS NULL THEN error('vsa_index_search: the query vector is NULL.')
                 ELSE __vsa_query::FLOAT[] END AS __vsa_q,
            CASE WHEN k IS NULL OR k < 1 THEN error('vsa_index_search: k must be a positive integer.')
                 ELSE k::BIGINT END AS __vsa_k,
            __vsa_check_column('vsa_index_search',
                               __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
                               __vsa_index_sql(__vsa_index::VARCHAR, 'column')) AS __vsa_ok
    ),
    __vsa_best AS (
        SELECT __vsa_index_topk(
                   __vsa_index::VARCHAR,
                   (SELECT __vsa_fingerprint
                    FROM query(__vsa_index_sql(__vsa_index::VARCHAR, 'fingerprint'))),
                   __vsa_q, __vsa_k) AS __vsa_top
        FROM __vsa_args
        WHERE __vsa_ok
    ),
    __vsa_hits AS (
        SELECT unnest(__vsa_top) AS __vsa_hit, generate_subscripts(__vsa_top, 1) AS __vsa_rank
        FROM __vsa_best
    ),
    __vsa_found AS (
        SELECT __vsa_r.__vsa_row, __vsa_hits.__vsa_hit.score AS __vsa_score, __vsa_hits.__vsa_rank
        FROM __vsa_hits
        JOIN query(__vsa_index_sql(__vsa_index::VARCHAR, 'rows')) __vsa_r
          ON __vsa_r.__vsa_rowid = __vsa_hits.__vsa_hit.rowid
    )
SELECT __vsa_score AS score, __vsa_row.*
FROM __vsa_found
ORDER BY __vsa_rank;

-- vsa_index_topk_join(left_tbl, left_col, index_name, k := 5): for every row of
-- left_tbl with a vector, its k most similar rows of the indexed table. Columns l, r,
-- score, rank, as vsa_topk_join(left_tbl, left_col, <table>, <column>, k := k).
CREATE OR REPLACE TEMP MACRO vsa_index_topk_join(
    __vsa_left_tbl, __vsa_left_col, __vsa_index, k := 5
) AS TABLE
WITH
    __vsa_args AS (
        SELECT CASE WHEN k IS NULL OR k < 1 THEN error('vsa_index_topk_join: k must be a positive integer.')
                    ELSE k::BIGINT END AS __vsa_k,
               __vsa_check_pair('vsa_index_topk_join', __vsa_left_tbl, __vsa_left_col,
                                __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
                                __vsa_index_sql(__vsa_index::VARCHAR, 'column')) AS __vsa_ok
    ),
    __vsa_left AS MATERIALIZED (
        SELECT row_number() OVER () AS __vsa_lid, __vsa_t AS __vsa_lrow,
               __vsa_t[__vsa_left_col] AS __vsa_lv
        FROM query_table(__vsa_left_tbl::VARCHAR) __vsa_t
    ),
    __vsa_best AS (
        SELECT __vsa_lid,
               __vsa_index_topk(
                   __vsa_index::VARCHAR,
                   (SELECT __vsa_fingerprint
                    FROM query(__vsa_index_sql(__vsa_index::VARCHAR, 'fingerprint'))),
                   __vsa_lv::FLOAT[],
                   (SELECT __vsa_k FROM __vsa_args)) AS __vsa_top
        FROM __vsa_left
        WHERE __vsa_lv IS NOT NULL AND (SELECT __vsa_ok FROM __vsa_args)
    ),
    __vsa_hits AS (
        SELECT __vsa_lid, unnest(__vsa_top) AS __vsa_hit, generate_subscripts(__vsa_top, 1) AS __vsa_rank
        FROM __vsa_best
    )
SELECT __vsa_left.__vsa_lrow AS l, __vsa_r.__vsa_row AS r,
       __vsa_hits.__vsa_hit.score AS score, __vsa_hits.__vsa_rank AS rank
FROM __vsa_hits
JOIN __vsa_left ON __vsa_left.__vsa_lid = __vsa_hits.__vsa_lid
JOIN query(__vsa_index_sql(__vsa_index::VARCHAR, 'rows')) __vsa_r
  ON __vsa_r.__vsa_rowid = __vsa_hits.__vsa_hit.rowid
ORDER BY __vsa_hits.__vsa_lid, __vsa_hits.__vsa_rank;

-- vsa_index_near_duplicates(index_name, threshold := 0.9, k := 10): pairs of distinct
-- rows of the indexed table scoring at least threshold, each pair once, each row
-- contributing at most its k best partners. Columns l (the earlier row), r, score, as
-- vsa_near_duplicates(<table>, <column>, threshold := threshold, k := k).
CREATE OR REPLACE TEMP MACRO vsa_index_near_duplicates(
    __vsa_index, threshold := 0.9, k := 10
) AS TABLE
WITH
    __vsa_args AS (
        SELECT
            CASE WHEN threshold IS NULL THEN error('vsa_index_near_duplicates: threshold must not be NULL.')
                 ELSE threshold::FLOAT END AS __vsa_threshold,
            CASE WHEN k IS NULL OR k < 1 THEN error('vsa_index_near_duplicates: k must be a positive integer.')
                 ELSE k::BIGINT END AS __vsa_k,
            __vsa_check_column('vsa_index_near_duplicates',
                               __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
                               __vsa_index_sql(__vsa_index::VARCHAR, 'column')) AS __vsa_ok
    ),
    __vsa_best AS (
        SELECT __vsa_rowid AS __vsa_a,
               __vsa_index_topk_excluding(
                   __vsa_index::VARCHAR,
                   (SELECT __vsa_fingerprint
                    FROM query(__vsa_index_sql(__vsa_index::VARCHAR, 'fingerprint'))),
                   __vsa_v::FLOAT[],
                   (SELECT __vsa_k FROM __vsa_args),
                   __vsa_rowid) AS __vsa_top
        FROM query(__vsa_index_sql(__vsa_index::VARCHAR, 'vectors'))
        WHERE __vsa_v IS NOT NULL AND (SELECT __vsa_ok FROM __vsa_args)
    ),
    __vsa_pairs AS (
        SELECT __vsa_a, unnest(__vsa_top) AS __vsa_hit
        FROM __vsa_best
    ),
    -- Both rows of a pair may list it; their scores can differ in the last bit.
    __vsa_unique AS (
        SELECT least(__vsa_a, __vsa_hit.rowid) AS __vsa_i,
               greatest(__vsa_a, __vsa_hit.rowid) AS __vsa_j,
               max(__vsa_hit.score) AS __vsa_s
        FROM __vsa_pairs
        WHERE __vsa_hit.score >= (SELECT __vsa_threshold FROM __vsa_args)
        GROUP BY 1, 2
    ),
    __vsa_rows AS (
        SELECT * FROM query(__vsa_index_sql(__vsa_index::VARCHAR, 'rows'))
    )
SELECT __vsa_x.__vsa_row AS l, __vsa_y.__vsa_row AS r, __vsa_unique.__vsa_s AS score
FROM __vsa_unique
JOIN __vsa_rows __vsa_x ON __vsa_x.__vsa_rowid = __vsa_unique.__vsa_i
JOIN __vsa_rows __vsa_y ON __vsa_y.__vsa_rowid = __vsa_unique.__vsa_j
ORDER BY score DESC, __vsa_unique.__vsa_i, __vsa_unique.__vsa_j;
