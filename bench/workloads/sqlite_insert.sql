-- sqlite3 workload of the growprof benchmark. Run from a scratch directory (it writes
-- bench_inserts.sql there):
--   sqlite3 :memory: ".parameter set @rows 60000" ".read sqlite_insert.sql"
-- 1. generates @rows single-row INSERT statements into bench_inserts.sql and reads them
--    back: @rows statements parsed, prepared and stepped one by one, in one transaction;
-- 2. bulk-inserts as many rows again through a recursive CTE, builds two indexes;
-- 3. updates, deletes, aggregates, and grows long strings with group_concat.
-- Prints only values that depend on the data, never timings or addresses.
PRAGMA journal_mode = MEMORY;
CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, grp INTEGER NOT NULL,
                   price REAL NOT NULL, note TEXT);

.headers off
.mode list
.output bench_inserts.sql
SELECT 'BEGIN;';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @rows)
SELECT printf('INSERT INTO item (id, name, grp, price, note) VALUES (%d, ''item-%07d'', %d, %.2f, %s);',
              i, i, i % 97, (i * 7919 % 100000) / 100.0,
              CASE WHEN i % 4 = 0 THEN '''' || substr(hex(i * 2654435761), 1, 6 + i % 20) || ''''
                   ELSE 'NULL' END)
FROM n;
SELECT 'COMMIT;';
.output stdout
.read bench_inserts.sql

WITH RECURSIVE n(i) AS (SELECT @rows + 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2 * @rows)
INSERT INTO item (id, name, grp, price, note)
SELECT i, printf('item-%07d', i), i % 97, (i * 7919 % 100000) / 100.0,
       CASE WHEN i % 4 = 0 THEN substr(hex(i * 2654435761), 1, 6 + i % 20) END
FROM n;

CREATE INDEX item_grp ON item (grp, price);
CREATE INDEX item_name ON item (name);

CREATE TABLE log (id INTEGER PRIMARY KEY, item INTEGER, msg TEXT);
BEGIN;
INSERT INTO log (item, msg) SELECT id, 'price ' || price || ' grp ' || grp FROM item WHERE id % 2 = 0;
UPDATE item SET note = coalesce(note, '') || '+' || grp WHERE id % 3 = 0;
DELETE FROM log WHERE id % 10 = 0;
COMMIT;

SELECT count(*), sum(grp), round(sum(price), 2), sum(length(note)) FROM item;
SELECT count(*), sum(length(msg)) FROM log;
SELECT grp, count(*), round(avg(price), 3), length(group_concat(name, ',')) FROM item
  GROUP BY grp ORDER BY grp LIMIT 5;
SELECT length(s), substr(s, 1, 40) FROM (SELECT group_concat(name || ':' || grp, ';') AS s
  FROM (SELECT name, grp FROM item ORDER BY grp, name));
SELECT name FROM item WHERE grp = 42 ORDER BY price DESC, id LIMIT 3;
