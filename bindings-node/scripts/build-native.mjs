// Builds the addon and regenerates its committed loader and declarations.
//
//   node scripts/build-native.mjs [--profile release] [--check]
//
// cargo compiles the crate in the workspace's own target directory and
// profile (so the runtime's dependencies are the ones every other binding's
// release build already compiled; `napi build` would pass `--target` and
// build them all again in a second tree), with napi-derive writing its type
// definitions; @napi-rs/cli's own typegen and loader writer then produce
// native/binding.d.ts and native/binding.cjs. `--check` fails when those
// differ from the committed files.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateTypeDef, writeJsBinding } from '@napi-rs/cli'

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(pkgDir, '..')
const args = process.argv.slice(2)
const profile = args.includes('--profile') ? args[args.indexOf('--profile') + 1] : 'release'
const check = args.includes('--check')
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
const binaryName = pkg.napi.binaryName

const metadata = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root, maxBuffer: 64 << 20 }))
const targetDir = metadata.target_directory
// One directory per checkout: worktrees sharing a target directory build
// this crate in turn, and each must read its own type definitions.
const checkout = createHash('sha256').update(pkgDir).digest('hex').slice(0, 12)
const typeDefDir = join(targetDir, 'napi-typedef', `tokenkeep-node-${checkout}`)
rmSync(typeDefDir, { recursive: true, force: true })
mkdirSync(typeDefDir, { recursive: true })

execFileSync('cargo', ['build', '-p', 'tokenkeep-node', '--profile', profile], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir,
    // napi-build reruns the crate's build (and so napi-derive's type output) when this changes.
    NAPI_FORCE_BUILD_TOKENKEEP_NODE: String(Date.now()),
  },
})

const outDir = join(pkgDir, 'native')
const profileDir = profile === 'dev' ? 'debug' : profile
copyFileSync(join(targetDir, profileDir, 'libtokenkeep_node.so'), join(outDir, `${binaryName}.linux-x64-gnu.node`))

const { exports, dts } = await generateTypeDef({ typeDefDir, cwd: pkgDir, constEnum: false })
const generated = {}
const scratch = join(targetDir, 'napi-typedef', `loader-${checkout}`)
rmSync(scratch, { recursive: true, force: true })
mkdirSync(scratch, { recursive: true })
await writeJsBinding({
  platform: true,
  idents: exports,
  jsBinding: 'binding.cjs',
  format: 'commonjs',
  binaryName,
  packageName: pkg.name,
  version: pkg.version,
  outputDir: scratch,
})
generated['binding.cjs'] = readFileSync(join(scratch, 'binding.cjs'), 'utf8')
generated['binding.d.ts'] = dts

let stale = 0
for (const [name, text] of Object.entries(generated)) {
  const file = join(outDir, name)
  if (check) {
    let old = ''
    try {
      old = readFileSync(file, 'utf8')
    } catch {}
    if (old !== text) {
      console.error(`native/${name} differs from what the build generates: run \`node scripts/build-native.mjs\` in bindings-node and commit it`)
      stale++
    }
  } else {
    writeFileSync(file, text)
  }
}
process.exit(stale ? 1 : 0)
