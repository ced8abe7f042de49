-- envtrust store, migration 008 (issue 11, defect 6: logout ends every copy of a session).
-- Server-side dashboard sessions. The signed cookie carries the username and a random session id;
-- a request counts as logged in only while the row of that id is open here. Logout closes the row,
-- so a copy of the cookie stops working at once; a password reset closes every row of the user.
-- Only the SHA-256 of the id is stored, so reading the store does not hand out live sessions.
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    session_hash    VARCHAR PRIMARY KEY,       -- hex SHA-256 of the cookie's session id
    username        VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,        -- UTC
    expires_at      TIMESTAMP NOT NULL,        -- UTC; the session lifetime is the server's
    ended_at        TIMESTAMP,                 -- UTC; set by logout or a password reset
    end_reason      VARCHAR                    -- logout | password_reset | user_removed
);
