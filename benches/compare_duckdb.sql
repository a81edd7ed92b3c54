-- benches/compare.sh: the comparison job in DuckDB.
-- {input}, {output} and {threads} are substituted by the script.
-- All columns are read as text; email is trimmed (spaces) and lowercased;
-- rows whose email fails the simple validity rule are dropped; the first
-- row of each email in file order is kept; the output is in input order.
SET threads = {threads};
COPY (
    SELECT * EXCLUDE (rn, k)
    FROM (
        SELECT *, row_number() OVER (PARTITION BY email ORDER BY rn) AS k
        FROM (
            SELECT * REPLACE (lower(trim(email)) AS email), row_number() OVER () AS rn
            FROM read_csv('{input}', header = true, all_varchar = true)
        )
        WHERE regexp_full_match(email, '^[^@\s]+@[^@\s]+\.[^@\s]+$')
    )
    WHERE k = 1
    ORDER BY rn
) TO '{output}' (FORMAT parquet, COMPRESSION zstd);
