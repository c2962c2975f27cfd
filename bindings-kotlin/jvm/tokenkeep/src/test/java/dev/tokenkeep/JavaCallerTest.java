package dev.tokenkeep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a Java service writes: blocking methods with ordinary names, try-with-resources, one exception type. */
class JavaCallerTest {
    @Test
    void blockingApiFromJava() throws Exception {
        try (DevIssuer issuer = new DevIssuer("--jwks-max-age", "60s")) {
            VerifierOptions options = VerifierOptions.discovery(issuer.getIssuer(), "api");
            try (Verifier verifier = new Verifier(options)) {
                assertTrue(verifier.readyBlocking(Duration.ofSeconds(10)));
                String token = issuer.mint("java-user", "api", "ES256", Map.of());

                VerifiedToken verified = verifier.verifyBlocking(token);
                assertEquals("java-user", verified.getSubject());
                assertEquals("ES256", verified.getAlg());
                assertTrue(verified.getClaimsJson().contains("\"sub\":\"java-user\""));
                assertEquals("java-user", verifier.verifyCached(token).getSubject());

                // `now` moves the token's clock: an hour on, it has expired.
                TokenkeepException expired = assertThrows(TokenkeepException.class,
                        () -> verifier.verifyBlocking(token, Instant.now().plus(Duration.ofHours(2))));
                assertEquals("expired", expired.getCode());
                assertEquals(401, ((TokenRejectedException) expired).getHttpStatus());

                List<IssuerHealth> health = verifier.health();
                assertEquals(1, health.size());
                assertEquals("fresh", health.get(0).getState());
                verifier.refresh();
                assertEquals(List.of(issuer.getIssuer()), verifier.getIssuers());
            }
        }
    }

    @Test
    void outboundHandlesFromJava(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path key = dir.resolve("hmac");
        java.nio.file.Files.writeString(key, IssuedSecrets.INSTANCE.remember("java-hmac-secret-0123456789abcdef"));
        String options = "{\"file\": \"" + key + "\", \"change_poll\": 0.2}";
        try (HmacKeyring ring = new HmacKeyring(options)) {
            assertTrue(ring.readyBlocking(Duration.ofSeconds(10)));
            long version = ring.current();
            byte[] body = "{}".getBytes();
            String signature = ring.sign("POST", "/hook", body);
            assertEquals(version, ring.verify(signature, "POST", "/hook", body));
            HmacException bad = assertThrows(HmacException.class, () -> ring.verify(signature, "POST", "/other", body));
            assertEquals("bad_signature", bad.getCode());
            assertEquals("hmac_keyring", ring.health().getKind());
            long seen = ring.getRotationCount();
            java.nio.file.Files.writeString(key, IssuedSecrets.INSTANCE.remember("java-hmac-secret-rotated-fedcba9876"));
            assertTrue(ring.waitRotationBlocking(seen, Duration.ofSeconds(15)) != null);
            assertEquals(version, ring.verify(signature, "POST", "/hook", body));
            IssuedSecrets.INSTANCE.show(ring, ring.health());
        }
        TokenkeepException missing = assertThrows(TokenkeepException.class, () -> new FileToken(new FileTokenOptions()));
        assertEquals("missing_field", missing.getCode());
    }

    @Test
    void configErrorsFromJava() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> new Verifier("{\"issuer\": \"https://a.example\", \"leeway\": \"soon\"}"));
        assertEquals("invalid_duration", e.getCode());
        assertEquals("leeway", e.getPath());
        assertEquals(SpecErrorCode.INVALID_DURATION, e.getSpecError());
    }
}
