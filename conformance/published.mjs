// The suite's published results of other caches (its results/ folder), counted as
// client.mjs counts httpcache's: one row per test, its kind and shown result.
//
//   node published.mjs SUITE_DIR OUT_JSON

import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, outFile] = process.argv.slice(2)
const load = relative => import(pathToFileURL(path.join(suiteDir, relative)).href)

const { default: suites } = await load('tests/index.mjs')
const { default: implementations } = await load('results/index.mjs')
const { determineTestResult, resultTypes } = await load('test-engine/lib/results.mjs')
const names = new Map(Object.entries(resultTypes).map(([name, type]) => [type, name]))

const out = {}
for (const implementation of implementations) {
  const file = path.join(suiteDir, 'results', implementation.file)
  const results = JSON.parse(fs.readFileSync(file, 'utf8'))
  const rows = []
  for (const suite of suites) {
    for (const test of suite.tests) {
      if (test.cdn_only || test.browser_only) continue
      rows.push({
        suite: suite.id,
        id: test.id,
        name: test.name,
        kind: test.kind || 'required',
        result: names.get(determineTestResult(suites, test.id, results)),
        detail: '',
        dependency_only: false
      })
    }
  }
  out[`${implementation.name} ${implementation.version || ''}`.trim()] = rows
}
fs.writeFileSync(outFile, JSON.stringify(out))
