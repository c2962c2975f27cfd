import type { Registry } from 'prom-client'

/** One runtime metric family as a prom-client metric. */
export declare class TokenkeepMetric {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  readonly aggregator: 'sum'
  get(): { name: string; help: string; type: string; values: { labels: Record<string, string | number>; value: number; metricName?: string }[]; aggregator: string }
  reset(): void
}

/** Registers every tokenkeep metric family with `registry` (default: prom-client's global one). */
export declare function registerMetrics(registry?: Registry): TokenkeepMetric[]
