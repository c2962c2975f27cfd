// @ts-check
// Verify one token from the command line:
//   node examples/verify.mjs https://idp.example api://orders "$TOKEN"
import { Verifier, isTokenkeepError } from 'tokenkeep'

const [issuer, audience, token] = process.argv.slice(2)
const verifier = new Verifier({ issuer, audience })
verifier.on('jwks_refresh_failed', (event) => console.error(`keys: ${event.fields.error}`))
if (!(await verifier.ready(5000))) console.error('no keys yet')
try {
  const claims = await verifier.verify(token ?? '')
  console.log(`valid: ${claims.sub}`)
} catch (err) {
  if (!isTokenkeepError(err)) throw err
  console.log(`rejected (${err.httpStatus}): ${err.code}`)
  process.exitCode = 1
}
// No close(): the verifier never keeps the process alive.
