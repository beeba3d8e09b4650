// Runs the cache-tests suite's own client engine against a cache and writes, for
// each test, its kind and its result as cache-tests.fyi shows it.
//
//   node client.mjs SUITE_DIR BASE_URL OUT_JSON [SUITE_ID,...]
//
// Tests for shared caches only (cdn_only) and for browsers only are not run: the
// cache under test is a private one. With suite ids, only those suites run, plus
// the tests they depend on (reported apart, so that a dependency's result is real).

import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, baseUrl, outFile, only] = process.argv.slice(2)
const load = relative => import(pathToFileURL(path.join(suiteDir, relative)).href)

const { default: suites } = await load('tests/index.mjs')
const { runTests, getResults } = await load('test-engine/client/runner.mjs')
const { determineTestResult, resultTypes } = await load('test-engine/lib/results.mjs')

const wanted = only ? new Set(only.split(',')) : null
const byId = new Map()
for (const suite of suites) for (const test of suite.tests) byId.set(test.id, [suite, test])

const selected = new Set()
function select (id) {
  if (selected.has(id) || !byId.has(id)) return
  selected.add(id)
  for (const dependency of byId.get(id)[1].depends_on || []) select(dependency)
}
for (const [id, [suite, test]] of byId) {
  if (test.cdn_only || test.browser_only) continue
  if (wanted === null || wanted.has(suite.id)) select(id)
}

const toRun = suites
  .map(suite => ({ ...suite, tests: suite.tests.filter(test => selected.has(test.id)) }))
  .filter(suite => suite.tests.length > 0)
await runTests(toRun, false, baseUrl)
const results = getResults()

const names = new Map(Object.entries(resultTypes).map(([name, type]) => [type, name]))
const rows = []
for (const suite of toRun) {
  for (const test of suite.tests) {
    const shown = determineTestResult(suites, test.id, results)
    const raw = results[test.id]
    rows.push({
      suite: suite.id,
      id: test.id,
      name: test.name,
      kind: test.kind || 'required',
      result: names.get(shown),
      detail: raw === true ? '' : (raw || []).join(': '),
      dependency_only: wanted !== null && !wanted.has(suite.id)
    })
  }
}
fs.writeFileSync(outFile, JSON.stringify(rows, null, 2))
