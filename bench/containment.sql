-- Prototype of the contained fleet store's answer path (docs/fleet.md, containment).
-- Not used by the module: bench/containment.py loads it beside today's schema and measures
-- one answer (PIN + code) both ways. Run as the owner role; psql variable :module names the
-- module's role.
--
-- The owner holds the tables, the code key and the policy; the module's role gets EXECUTE on
-- two functions and nothing else. The functions run as the owner (SECURITY DEFINER) with a
-- fixed search_path, so the module's role cannot substitute a table or an operator.

CREATE SCHEMA sealed;
REVOKE ALL ON SCHEMA sealed FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA sealed;

-- The code key never leaves this table: only the owner reads it, the functions use it.
CREATE TABLE sealed.code_key (id integer PRIMARY KEY CHECK (id = 1), key bytea NOT NULL CHECK (length(key) = 32));
-- The fleet's policy is the database's, not a host's: a host cannot raise max_fail for itself.
CREATE TABLE sealed.policy (id integer PRIMARY KEY CHECK (id = 1), max_fail integer NOT NULL, lease_ms integer NOT NULL,
    otp_tries integer NOT NULL, otp_validity integer NOT NULL, max_mails_per_hour integer NOT NULL);
-- The fields the database enforces are columns; a challenge is a row.
CREATE TABLE sealed.tokens (
    user_name text PRIMARY KEY,
    address text NOT NULL,
    pin_hash text,                  -- crypt(3): $y$params$salt$hash
    fail_count integer NOT NULL DEFAULT 0,
    locked_at bigint NOT NULL DEFAULT 0,
    mails bigint[] NOT NULL DEFAULT '{}',
    lease_until timestamptz,        -- an answer between its charge and its settlement
    lease_id bigint,
    lease_xid xid8,                 -- the charge's transaction: settle needs it committed
    lease_tx text                   -- the challenge the charge took a try of
);
CREATE TABLE sealed.challenges (
    user_name text NOT NULL REFERENCES sealed.tokens ON DELETE CASCADE,
    transaction_id text NOT NULL,
    code_hash text NOT NULL,        -- hex HMAC-SHA-256 of "transaction_id:user:code" under code_key
    expires bigint NOT NULL,
    tries_left integer NOT NULL,
    opened_by name NOT NULL,        -- the host role that armed it: answerable there only
    PRIMARY KEY (user_name, transaction_id)
);
CREATE SEQUENCE sealed.lease_ids;

-- The charge: one failure and one try of the named challenge, committed in its own
-- transaction before anything is compared. Returns the charge id and the PIN hash's setting
-- (its parameters and salt), never the hash: the host computes crypt(PIN, setting) and hands
-- the result to settle, so PIN hashing stays on the host and no host reads a PIN hash.
CREATE FUNCTION sealed.charge(p_user text, p_tx text, p_lock_ms integer)
RETURNS TABLE (charge_id bigint, pin_setting text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = sealed, pg_temp AS $$
DECLARE
    t tokens;
    pol policy;
    now_s bigint := floor(extract(epoch FROM clock_timestamp()));
    id bigint;
BEGIN
    -- What is left of the login's store_timeout, for this transaction only.
    PERFORM set_config('lock_timeout', p_lock_ms::text, true);
    SELECT * INTO pol FROM policy WHERE policy.id = 1;
    SELECT * INTO t FROM tokens WHERE user_name = p_user FOR UPDATE;
    IF NOT FOUND THEN
        -- The same work for a name without a row: a write of its own and a setting.
        PERFORM pg_current_xact_id();
        RETURN QUERY SELECT 0::bigint, '$y$j9T$' || left(encode(hmac(convert_to(p_user, 'UTF8'),
            (SELECT key FROM code_key WHERE code_key.id = 1), 'sha256'), 'hex'), 22);
        RETURN;
    END IF;
    IF t.lease_until > clock_timestamp() THEN
        RAISE EXCEPTION 'another answer is being checked' USING ERRCODE = 'lock_not_available';
    END IF;
    id := nextval('lease_ids');
    UPDATE tokens SET fail_count = fail_count + 1,
                      locked_at = CASE WHEN locked_at = 0 AND fail_count + 1 >= pol.max_fail THEN now_s ELSE locked_at END,
                      lease_until = clock_timestamp() + pol.lease_ms * interval '1 millisecond',
                      lease_id = id, lease_xid = pg_current_xact_id(), lease_tx = p_tx
     WHERE user_name = p_user;
    UPDATE challenges SET tries_left = tries_left - 1
     WHERE user_name = p_user AND transaction_id = p_tx AND tries_left > 0 AND expires > now_s
       AND opened_by = session_user;
    RETURN QUERY SELECT id, substring(t.pin_hash FROM '^(\$y\$[^$]+\$[^$]+)\$');
END $$;

-- The settlement: compares inside the database and refunds or keeps the charge. Refuses a
-- charge whose transaction has not committed: called in the charge's own transaction (to roll
-- the charge back after seeing the verdict) it finds 'in progress' and fails.
CREATE FUNCTION sealed.settle(p_user text, p_charge bigint, p_pin_hash text, p_code text, p_lock_ms integer)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = sealed, pg_temp AS $$
DECLARE
    t tokens;
    k bytea := (SELECT key FROM code_key WHERE id = 1);
    now_s bigint := floor(extract(epoch FROM clock_timestamp()));
    stored text;
    pin_ok boolean;
    code_ok boolean;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_ms::text, true);
    SELECT * INTO t FROM tokens WHERE user_name = p_user FOR UPDATE;
    IF NOT FOUND OR t.lease_id IS DISTINCT FROM p_charge THEN
        PERFORM pg_current_xact_id();
        RETURN 'denied';
    END IF;
    IF pg_xact_status(t.lease_xid) IS DISTINCT FROM 'committed' THEN
        RAISE EXCEPTION 'the charge is not committed' USING ERRCODE = 'invalid_transaction_state';
    END IF;
    SELECT code_hash INTO stored FROM challenges
     WHERE user_name = p_user AND transaction_id = t.lease_tx AND expires > now_s AND opened_by = session_user;
    -- Compared as MACs of both sides: the time taken says nothing about how much matched.
    -- A PIN-only answer (p_code NULL) and a code-only one (p_pin_hash NULL: the PIN was
    -- answered before the challenge was armed) compare what they carry.
    pin_ok := t.locked_at = 0 AND (p_pin_hash IS NULL OR (t.pin_hash IS NOT NULL
        AND hmac(convert_to(p_pin_hash, 'UTF8'), k, 'sha256') = hmac(convert_to(t.pin_hash, 'UTF8'), k, 'sha256')));
    code_ok := hmac(convert_to(encode(hmac(convert_to(coalesce(t.lease_tx, '') || ':' || p_user || ':' || coalesce(p_code, ''), 'UTF8'),
                                           k, 'sha256'), 'hex'), 'UTF8'), k, 'sha256')
        = hmac(convert_to(coalesce(stored, ''), 'UTF8'), k, 'sha256');
    IF pin_ok AND ((p_code IS NOT NULL AND code_ok AND stored IS NOT NULL) OR (p_code IS NULL AND p_pin_hash IS NOT NULL)) THEN
        UPDATE tokens SET fail_count = fail_count - 1, lease_until = NULL, lease_id = NULL, lease_xid = NULL, lease_tx = NULL
         WHERE user_name = p_user;
        IF p_code IS NULL THEN
            RETURN 'pin';
        END IF;
        DELETE FROM challenges WHERE user_name = p_user AND transaction_id = t.lease_tx;
        RETURN 'granted';
    END IF;
    UPDATE tokens SET lease_until = NULL, lease_id = NULL, lease_xid = NULL, lease_tx = NULL WHERE user_name = p_user;
    RETURN 'denied';
END $$;

-- What a login needs before its first prompt: whether the user has a token and a PIN is asked.
CREATE FUNCTION sealed.lookup(p_user text)
RETURNS TABLE (has_token boolean, pin_asked boolean, locked boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = sealed, pg_temp AS $$
    SELECT count(*) > 0, bool_or(pin_hash IS NOT NULL), bool_or(locked_at <> 0) FROM tokens WHERE user_name = p_user
$$;

-- Arms a challenge with a code the host made: its HMAC is stored, bound to the calling host's
-- role, with the policy's validity and tries; the mail limit is the policy's. Returns the
-- address to mail, or NULL when no mail may go out.
CREATE FUNCTION sealed.arm(p_user text, p_tx text, p_code text, p_lock_ms integer)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = sealed, pg_temp AS $$
DECLARE
    t tokens;
    pol policy;
    now_s bigint := floor(extract(epoch FROM clock_timestamp()));
BEGIN
    PERFORM set_config('lock_timeout', p_lock_ms::text, true);
    SELECT * INTO pol FROM policy WHERE id = 1;
    SELECT * INTO t FROM tokens WHERE user_name = p_user FOR UPDATE;
    IF NOT FOUND OR t.locked_at <> 0 OR t.lease_until > clock_timestamp() THEN
        RETURN NULL;
    END IF;
    IF (SELECT count(*) FROM unnest(t.mails) m WHERE m > now_s - 3600) >= pol.max_mails_per_hour THEN
        RETURN NULL;
    END IF;
    DELETE FROM challenges WHERE user_name = p_user AND expires <= now_s;
    INSERT INTO challenges VALUES (p_user, p_tx,
        encode(hmac(convert_to(p_tx || ':' || p_user || ':' || p_code, 'UTF8'), (SELECT key FROM code_key WHERE id = 1), 'sha256'), 'hex'),
        now_s + pol.otp_validity, pol.otp_tries, session_user);
    UPDATE tokens SET mails = array(SELECT m FROM unnest(t.mails) m WHERE m > now_s - 3600) || now_s WHERE user_name = p_user;
    RETURN t.address;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA sealed FROM PUBLIC;
REVOKE ALL ON FUNCTION sealed.charge(text, text, integer), sealed.settle(text, bigint, text, text, integer),
    sealed.lookup(text), sealed.arm(text, text, text, integer) FROM PUBLIC;
GRANT USAGE ON SCHEMA sealed TO :"module";
GRANT EXECUTE ON FUNCTION sealed.charge(text, text, integer), sealed.settle(text, bigint, text, text, integer),
    sealed.lookup(text), sealed.arm(text, text, text, integer) TO :"module";
