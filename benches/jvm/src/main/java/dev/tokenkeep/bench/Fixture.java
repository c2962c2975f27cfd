package dev.tokenkeep.bench;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.Ed25519Signer;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.OctetKeyPair;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import java.util.Date;

/** One key and one token per algorithm, shared by every library in the run. */
final class Fixture {
    static final String ISSUER = "https://issuer.bench.example";
    static final String AUDIENCE = "api://bench";

    final String alg;
    final PublicKey publicKey;
    final JWK publicJwk;
    final String jwksJson;
    final String token;

    Fixture(String alg) throws Exception {
        this.alg = alg;
        String kid = "bench-" + alg.toLowerCase();
        JWK privateJwk;
        JWSSigner signer;
        switch (alg) {
            case "RS256" -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
                g.initialize(2048);
                KeyPair kp = g.generateKeyPair();
                publicKey = kp.getPublic();
                RSAKey jwk = new RSAKey.Builder((RSAPublicKey) kp.getPublic()).privateKey((RSAPrivateKey) kp.getPrivate())
                        .keyID(kid).algorithm(JWSAlgorithm.RS256).keyUse(KeyUse.SIGNATURE).build();
                privateJwk = jwk;
                signer = new RSASSASigner(jwk);
            }
            case "ES256" -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
                g.initialize(new ECGenParameterSpec("secp256r1"));
                KeyPair kp = g.generateKeyPair();
                publicKey = kp.getPublic();
                ECKey jwk = new ECKey.Builder(Curve.P_256, (ECPublicKey) kp.getPublic()).privateKey((ECPrivateKey) kp.getPrivate())
                        .keyID(kid).algorithm(JWSAlgorithm.ES256).keyUse(KeyUse.SIGNATURE).build();
                privateJwk = jwk;
                signer = new ECDSASigner(jwk);
            }
            case "EdDSA" -> {
                KeyPair kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
                publicKey = kp.getPublic();
                // X.509 and PKCS#8 encodings of Ed25519 end with the raw 32-byte key.
                byte[] x = tail(kp.getPublic().getEncoded());
                byte[] d = tail(kp.getPrivate().getEncoded());
                OctetKeyPair jwk = new OctetKeyPair.Builder(Curve.Ed25519, Base64URL.encode(x)).d(Base64URL.encode(d))
                        .keyID(kid).algorithm(JWSAlgorithm.EdDSA).keyUse(KeyUse.SIGNATURE).build();
                privateJwk = jwk;
                signer = new Ed25519Signer(jwk);
            }
            default -> throw new IllegalArgumentException(alg);
        }
        publicJwk = privateJwk.toPublicJWK();
        jwksJson = new JWKSet(publicJwk).toString();
        long now = System.currentTimeMillis();
        JWTClaimsSet claims = new JWTClaimsSet.Builder().issuer(ISSUER).audience(AUDIENCE).subject("user-123")
                .issueTime(new Date(now - 60_000)).expirationTime(new Date(now + 24 * 3600_000L)).build();
        SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.parse(alg)).keyID(kid).type(JOSEObjectType.JWT).build(), claims);
        jwt.sign(signer);
        token = jwt.serialize();
    }

    private static byte[] tail(byte[] encoded) {
        return Arrays.copyOfRange(encoded, encoded.length - 32, encoded.length);
    }
}
