import cjs from './prometheus.cjs'
export const { registerMetrics, TokenkeepMetric } = cjs
export default cjs
