DROP TABLE auth_settings;
DROP TABLE login_challenges;
DROP TABLE totp_recovery_codes;
DROP TABLE user_totp;
