// helm_schema: every value set of values/bad/ is refused by `helm template`
// (and so by install and upgrade) with the message its `# expect-error:`
// lines name: values.schema.json for unknown keys, wrong types, bad enums,
// durations and function specs; the templates' own checks for what a schema
// cannot say (a termination grace shorter than the drain, a function
// deployed twice). A value set that renders fails the test.
//
//   node schema_test.js --tools DIR --chart DIR --values-dir DIR
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Tools, parseArgs, directives, runChecks } = require('./lib.js');

const args = parseArgs(process.argv.slice(2), ['tools', 'chart', 'values-dir']);
const files = fs.readdirSync(args['values-dir']).filter((f) => f.endsWith('.yaml')).sort();

const checks = [['there are bad value sets to try', () => {
  assert.ok(files.length >= 5, `only ${files.length} files in ${args['values-dir']}`);
}]];
for (const file of files) {
  checks.push([`refused: ${file}`, () => {
    const tools = new Tools(args.tools);
    const valuesFile = path.join(args['values-dir'], file);
    const expected = directives(valuesFile)['expect-error'] ?? [];
    assert.ok(expected.length > 0, `${file} has no "# expect-error:" line`);
    const result = tools.runHelm(['template', 'sluice', args.chart, '--values', valuesFile]);
    assert.notEqual(result.status, 0, `helm rendered ${file}, which it must refuse:\n${result.stdout}`);
    assert.equal(result.stdout, '', 'nothing is rendered when values are refused');
    for (const text of expected) {
      assert.ok(result.stderr.includes(text),
                `helm's error does not say "${text}":\n${result.stderr}`);
    }
  }]);
}
runChecks(checks);
