DROP TABLE audit_log;
DROP TABLE operations;
DROP TABLE containers;
DROP TABLE os_templates;
DROP TABLE plans;
DROP TABLE api_tokens;
DROP TABLE users;
DROP TABLE nodes;
