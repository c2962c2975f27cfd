// ESM entry point: the same objects as the CommonJS one (one class identity,
// so `instanceof` holds across `import` and `require`).
import cjs from './index.cjs'

export const {
  Verifier,
  VaultToken,
  VaultSecret,
  VaultLease,
  FileToken,
  HmacKeyring,
  Secret,
  TokenkeepError,
  isTokenkeepError,
  isErrorCode,
  metricsSnapshot,
  metricsText,
  CONCERNS,
  ERROR_CODES,
  EVENT_NAMES,
  REJECTION_CODES,
  _debugPanic,
  _debugPanicAsync,
} = cjs
export default cjs
