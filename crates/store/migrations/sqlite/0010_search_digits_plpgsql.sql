-- Nothing to change in SQLite (keep in step with the PostgreSQL migration of the same
-- version): there, the function that derives a key's digit suffixes for the digits
-- index became PL/pgSQL. SQLite's application writes the suffixes itself (0008).
SELECT 1;
