// Fails when any secret the suite issued (one a line in the first file)
// appears in any of the output files that follow.
import { readFileSync } from 'node:fs'

const [secretsFile, ...outputs] = process.argv.slice(2)
const secrets = [...new Set(readFileSync(secretsFile, 'utf8').split('\n').filter((s) => s.length >= 8))]
const texts = outputs.map((f) => [f, readFileSync(f, 'utf8')])
let leaks = 0
for (const secret of secrets) {
  for (const [file, text] of texts) {
    if (text.includes(secret)) {
      console.error(`secret leak: ${file} contains a secret the suite issued (${secret.length} characters, starting ${JSON.stringify(secret.slice(0, 4))})`)
      leaks++
    }
  }
}
if (secrets.length === 0) {
  console.error('check-secrets: the suite recorded no secret; the search proves nothing')
  process.exit(1)
}
console.log(`check-secrets: ${secrets.length} issued secrets, none in ${outputs.length} output file(s)`)
process.exit(leaks ? 1 : 0)
