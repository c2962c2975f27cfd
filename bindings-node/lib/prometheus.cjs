'use strict'
// A prom-client collector: every family of the runtime's metrics snapshot,
// with the same names as every other tokenkeep host
// (`auth_jwt_invalid_total{reason}`, `jwt_validation_duration_seconds{result}`,
// `jwks_refresh_total{issuer,result}`, …). Values are read from the runtime at
// scrape time; nothing is counted here.

const native = require('./native.cjs')
const { CONCERNS } = require('./codes.cjs')

function leLabel(le) {
  return le === Infinity ? '+Inf' : le
}

/** One runtime metric family as a prom-client metric (what `Registry#registerMetric` takes). */
class TokenkeepMetric {
  constructor(name, help, type) {
    this.name = name
    this.help = help
    this.type = type
    this.aggregator = 'sum'
  }

  get() {
    const family = native.metricsSnapshot().find((f) => f.name === this.name)
    const values = []
    for (const s of family ? family.samples : []) {
      if (this.type === 'histogram') {
        for (const b of s.buckets) {
          values.push({ labels: { ...s.labels, le: leLabel(b.le) }, value: b.count, metricName: `${this.name}_bucket` })
        }
        values.push({ labels: s.labels, value: s.value, metricName: `${this.name}_sum` })
        values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
      } else {
        values.push({ labels: s.labels, value: s.value })
      }
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset() {
    // The runtime's counters are process-wide and only grow; nothing to reset here.
  }
}

/**
 * Registers every tokenkeep metric family with `registry` (default:
 * prom-client's global registry); returns the registered metrics.
 */
function registerMetrics(registry) {
  const target = registry || require('prom-client').register
  const families = native.metricsSnapshot()
  const metrics = CONCERNS.metric.map((name) => {
    const f = families.find((x) => x.name === name)
    return new TokenkeepMetric(name, f ? f.help : name, f ? f.kind : 'gauge')
  })
  for (const m of metrics) target.registerMetric(m)
  return metrics
}

module.exports = { registerMetrics, TokenkeepMetric }
