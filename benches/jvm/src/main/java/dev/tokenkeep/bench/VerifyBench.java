package dev.tokenkeep.bench;

import com.auth0.jwt.JWT;
import com.auth0.jwt.algorithms.Algorithm;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.crypto.Ed25519Verifier;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKMatcher;
import com.nimbusds.jose.jwk.JWKSelector;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.Resource;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.SignedJWT;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import dev.tokenkeep.Verifier;
import io.jsonwebtoken.JwtParser;
import io.jsonwebtoken.Jwts;
import java.net.URL;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One full verification (signature, iss, aud, exp) of the same token with the
 * same key by each library. tokenkeep runs with its verified-token cache off
 * (every call checks the signature) and, separately, with it on (a repeated
 * token is answered from the cache, after its time rules are checked again).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class VerifyBench {
    @Param({"RS256", "ES256", "EdDSA"})
    public String alg;

    private Fixture fixture;
    private Verifier tokenkeep;
    private Verifier tokenkeepCached;
    private DefaultJWTProcessor<SecurityContext> nimbus;
    private JWKSource<SecurityContext> nimbusSource;
    private DefaultJWTClaimsVerifier<SecurityContext> nimbusClaims;
    private JwtParser jjwt;
    private com.auth0.jwt.interfaces.JWTVerifier auth0;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        fixture = new Fixture(alg);
        String spec = "{\"issuer\": \"" + Fixture.ISSUER + "\", \"audience\": \"" + Fixture.AUDIENCE + "\", \"jwks\": "
                + fixture.jwksJson + ", \"cache\": {\"verified_tokens\": %d}}";
        tokenkeep = new Verifier(String.format(spec, 0));
        tokenkeepCached = new Verifier(String.format(spec, 4096));

        // nimbus: the JWK source a service builds for a JWKS URL (RemoteJWKSet's
        // successor: cached, refresh-ahead), its retriever answering from memory, primed below.
        JWKSource<SecurityContext> source = JWKSourceBuilder
                .<SecurityContext>create(new URL("https://issuer.bench.example/jwks"),
                        (url) -> new Resource(fixture.jwksJson, "application/json"))
                .build();
        nimbusSource = source;
        nimbusClaims = new DefaultJWTClaimsVerifier<>(
                Fixture.AUDIENCE, new JWTClaimsSet.Builder().issuer(Fixture.ISSUER).build(), Set.of("exp"));
        nimbus = new DefaultJWTProcessor<>();
        nimbus.setJWSKeySelector(new JWSVerificationKeySelector<>(JWSAlgorithm.parse(alg), source));
        nimbus.setJWTClaimsSetVerifier(nimbusClaims);

        jjwt = Jwts.parser().verifyWith(fixture.publicKey).requireIssuer(Fixture.ISSUER).requireAudience(Fixture.AUDIENCE).build();

        Algorithm algorithm = switch (alg) {
            case "RS256" -> Algorithm.RSA256((RSAPublicKey) fixture.publicKey, null);
            case "ES256" -> Algorithm.ECDSA256((ECPublicKey) fixture.publicKey, null);
            default -> null; // java-jwt has no EdDSA
        };
        auth0 = algorithm == null ? null : JWT.require(algorithm).withIssuer(Fixture.ISSUER).withAudience(Fixture.AUDIENCE).build();

        // Every library must accept the token before it is timed (and nimbus's cache is primed).
        check(tokenkeep.verifyBlocking(fixture.token).getSubject());
        check(tokenkeepCached.verifyBlocking(fixture.token).getSubject());
        check(((JWTClaimsSet) nimbus()).getSubject());
        check(jjwt.parseSignedClaims(fixture.token).getPayload().getSubject());
        if (auth0 != null) check(auth0.verify(fixture.token).getSubject());
    }

    private static void check(String subject) {
        if (!"user-123".equals(subject)) throw new IllegalStateException("a library refused the benchmark token");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        tokenkeep.close();
        tokenkeepCached.close();
    }

    @Benchmark
    public Object tokenkeep() {
        return tokenkeep.verifyBlocking(fixture.token);
    }

    @Benchmark
    public Object tokenkeepCacheHit() {
        return tokenkeepCached.verifyBlocking(fixture.token);
    }

    /**
     * One uniffi call that does nothing (Verifier.isClosed: a handle clone and the
     * call, each a JNA crossing): what every call but verifyBlocking/verifyCached
     * (the JNI fast path) pays on the JVM.
     */
    @Benchmark
    public boolean uniffiCall() {
        return tokenkeep.isClosed();
    }

    @Benchmark
    public Object nimbus() throws Exception {
        if (!alg.equals("EdDSA")) return nimbus.process(fixture.token, null);
        // nimbus's key selector hands the verifier java.security keys, which an OKP
        // JWK cannot become: for EdDSA its processor's steps by hand (parse, keys
        // for the header from the same cached source, Ed25519Verifier, claims).
        SignedJWT jwt = SignedJWT.parse(fixture.token);
        List<JWK> keys = nimbusSource.get(new JWKSelector(JWKMatcher.forJWSHeader(jwt.getHeader())), null);
        for (JWK key : keys) {
            if (jwt.verify(new Ed25519Verifier(key.toOctetKeyPair()))) {
                JWTClaimsSet claims = jwt.getJWTClaimsSet();
                nimbusClaims.verify(claims, null);
                return claims;
            }
        }
        throw new BadJOSEException("no key verified the token");
    }

    @Benchmark
    public Object jjwt() {
        return jjwt.parseSignedClaims(fixture.token);
    }

    @Benchmark
    public Object auth0() {
        // Measured only where java-jwt has the algorithm (BenchMain leaves EdDSA out).
        return auth0 == null ? null : auth0.verify(fixture.token);
    }
}
