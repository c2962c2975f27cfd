package dev.tokenkeep.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs VerifyBench (one fork, 3 × 1 s warm-up, 5 × 1 s measured per case; JMH
 * command-line options override) and prints µs per verification and
 * tokenkeep's time as a ratio of each peer's, per algorithm.
 */
public final class BenchMain {
    private static final List<String> LIBRARIES = List.of("tokenkeep", "tokenkeepCacheHit", "uniffiCall", "nimbus", "jjwt", "auth0");

    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        Options options = new OptionsBuilder()
                .parent(cli)
                .include(VerifyBench.class.getName() + "\\.(tokenkeep|tokenkeepCacheHit|uniffiCall|nimbus|jjwt)$")
                .include(VerifyBench.class.getName() + "\\.auth0$")
                .forks(cli.getForkCount().orElse(1))
                .warmupIterations(cli.getWarmupIterations().orElse(3))
                .warmupTime(cli.getWarmupTime().orElse(TimeValue.seconds(1)))
                .measurementIterations(cli.getMeasurementIterations().orElse(5))
                .measurementTime(cli.getMeasurementTime().orElse(TimeValue.seconds(1)))
                .build();
        Collection<RunResult> results = new Runner(options).run();

        Map<String, Map<String, double[]>> byAlg = new TreeMap<>();
        for (RunResult r : results) {
            String lib = r.getParams().getBenchmark().replaceAll(".*\\.", "");
            String alg = r.getParams().getParam("alg");
            if (lib.equals("auth0") && alg.equals("EdDSA")) continue; // java-jwt has no EdDSA
            var s = r.getPrimaryResult();
            byAlg.computeIfAbsent(alg, a -> new TreeMap<>()).put(lib, new double[] {s.getScore(), s.getScoreError()});
        }
        System.out.println();
        System.out.println("µs per verification (signature + iss + aud + exp), mean ± 99.9% error; ratio = tokenkeep / peer (< 1: tokenkeep faster);");
        System.out.println("uniffiCall: one uniffi call doing nothing, for scale (verifyBlocking takes the JNI fast path instead)");
        List<String> header = new ArrayList<>(List.of("alg"));
        LIBRARIES.forEach(l -> header.add(l));
        header.addAll(List.of("vs nimbus", "vs jjwt", "vs auth0"));
        System.out.println("| " + String.join(" | ", header) + " |");
        System.out.println("|" + "---|".repeat(header.size()));
        for (var e : byAlg.entrySet()) {
            Map<String, double[]> m = e.getValue();
            List<String> row = new ArrayList<>(List.of(e.getKey()));
            for (String lib : LIBRARIES) {
                double[] v = m.get(lib);
                row.add(v == null ? "n/a" : String.format(Locale.ROOT, "%.2f ± %.2f", v[0], v[1]));
            }
            double tk = m.get("tokenkeep")[0];
            for (String peer : List.of("nimbus", "jjwt", "auth0")) {
                double[] v = m.get(peer);
                row.add(v == null ? "n/a" : String.format(Locale.ROOT, "%.2fx", tk / v[0]));
            }
            System.out.println("| " + String.join(" | ", row) + " |");
        }
    }
}
