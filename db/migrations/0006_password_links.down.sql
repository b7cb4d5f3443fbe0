DROP TABLE IF EXISTS password_links;
