-- Indexes from SQL, and the macros that search one by name.
--
-- vsa_create_index(tbl, vec_col, name := tbl, method := 'exact', ...) builds an index of a
-- table's vector column, installs the table's change triggers and records the index in
-- the table's database; it survives a restart (the first query that needs it loads it).
-- vsa_drop_index(name) removes it and every trace of it; FROM vsa_indexes() lists them.
-- They work through a helper connection of the database, which commits on its own:
-- inside an explicit transaction they take effect at once, whatever it does after.
--
-- vsa_search, vsa_topk_join and vsa_near_duplicates use an index of the table and column
-- they are given by themselves; the vsa_index_* macros name the index to use, and return
-- what those macros return for its table and column. Like them, they fall back to the
-- builtin scan when the index cannot answer for the query's snapshot.

-- vsa_create_index(tbl, vec_col, name := NULL, method := 'exact', nlist, nprobe, m,
-- ef_construction, ef_search, threads, replace := false): a description of the index.
CREATE OR REPLACE TEMP MACRO vsa_create_index(
    __vsa_tbl, __vsa_col, name := NULL, method := 'exact', nlist := NULL, nprobe := NULL,
    m := NULL, ef_construction := NULL, ef_search := NULL, threads := NULL, replace := false
) AS __vsa_create_index(
    __vsa_tbl::VARCHAR, __vsa_col::VARCHAR, name::VARCHAR, method::VARCHAR,
    json_object('nlist', nlist, 'nprobe', nprobe, 'm', m, 'ef_construction', ef_construction,
                'ef_search', ef_search, 'threads', threads)::VARCHAR,
    replace::BOOLEAN, current_database(), current_setting('search_path'), ${dim},
    '${fingerprint}');

-- vsa_drop_index(name, missing_ok := false): removes the index, its records and, unless
-- another index or encode_column's record needs them, the table's change triggers.
CREATE OR REPLACE TEMP MACRO vsa_drop_index(__vsa_name, missing_ok := false) AS
    __vsa_drop_index(__vsa_name::VARCHAR, missing_ok::BOOLEAN);

-- FROM vsa_indexes(): name, table, column, method, rows, dim, options, loaded, appended
-- (rows searched beside the index since it was built), bytes (memory held).
CREATE OR REPLACE TEMP MACRO vsa_indexes() AS TABLE
SELECT __vsa_i.* FROM (SELECT unnest(__vsa_indexes()) AS __vsa_i);

-- vsa_index_topk(index_name, query, k := 10): the k best hits of one query vector as
-- a list of STRUCT(rowid, score), best first (ties: smaller rowid first); NULL query
-- in, NULL out. For custom SQL: join the rowids back to the table.
-- The ticket is asked for inside the subquery that checks the recorded configuration:
-- DuckDB evaluates uncorrelated subqueries before the CASE around them, in any order,
-- and the recorded check's message names both configurations.
CREATE OR REPLACE TEMP MACRO __vsa_checked_ticket(__vsa_index) AS (
    SELECT CASE WHEN __vsa_check_column('vsa_index_topk',
                                        __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
                                        __vsa_index_sql(__vsa_index::VARCHAR, 'column'))
                THEN __vsa_ticket_of('search', NULL, NULL, __vsa_index) END
);

CREATE OR REPLACE TEMP MACRO vsa_index_topk(__vsa_index, __vsa_query, k := 10) AS
    CASE WHEN k IS NULL OR k < 1 THEN error('vsa_index_topk: k must be a positive integer.')
         WHEN NOT __vsa_check_vector('vsa_index_topk', 'the query vector', __vsa_query::FLOAT[])
             THEN NULL
         WHEN __vsa_checked_ticket(__vsa_index) IS NULL THEN error(
             'vsa_index_topk: index ' || __vsa_index::VARCHAR || ' cannot answer for this '
             || 'transaction, which changed its table and has not committed; use '
             || 'vsa_index_search, which falls back to a scan, or commit first.')
         ELSE __vsa_topk(__vsa_checked_ticket(__vsa_index), __vsa_query::FLOAT[], k::BIGINT)
    END;

-- vsa_index_search(index_name, query, k := 10): as vsa_search on the indexed table and column.
CREATE OR REPLACE TEMP MACRO vsa_index_search(__vsa_index, __vsa_query, k := 10) AS TABLE
SELECT * FROM __vsa_search(
    'vsa_index_search', __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
    __vsa_index_sql(__vsa_index::VARCHAR, 'column'), __vsa_index, __vsa_query, k);

-- vsa_index_topk_join(left_tbl, left_col, index_name, k := 5): as
-- vsa_topk_join(left_tbl, left_col, <indexed table>, <indexed column>, k := k).
CREATE OR REPLACE TEMP MACRO vsa_index_topk_join(
    __vsa_left_tbl, __vsa_left_col, __vsa_index, k := 5
) AS TABLE
SELECT * FROM __vsa_topk_join(
    'vsa_index_topk_join', __vsa_left_tbl, __vsa_left_col,
    __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
    __vsa_index_sql(__vsa_index::VARCHAR, 'column'), __vsa_index, k);

-- vsa_index_near_duplicates(index_name, threshold := 0.9, k := 10): as
-- vsa_near_duplicates(<indexed table>, <indexed column>, threshold := threshold, k := k).
CREATE OR REPLACE TEMP MACRO vsa_index_near_duplicates(
    __vsa_index, threshold := 0.9, k := 10
) AS TABLE
SELECT * FROM __vsa_near_duplicates(
    'vsa_index_near_duplicates', __vsa_index_sql(__vsa_index::VARCHAR, 'table'),
    __vsa_index_sql(__vsa_index::VARCHAR, 'column'), __vsa_index, threshold, k);
