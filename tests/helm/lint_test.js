// helm_lint: `helm lint --strict` passes on the chart with its defaults and
// with every value set of values/, and reports no warning, no error and no
// template failure (lint renders `fail` calls as log lines, not errors).
//
//   node lint_test.js --tools DIR --chart DIR --values-dir DIR
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Tools, parseArgs, runChecks } = require('./lib.js');

const args = parseArgs(process.argv.slice(2), ['tools', 'chart', 'values-dir']);

const sets = [['the defaults', []]];
for (const file of fs.readdirSync(args['values-dir']).sort()) {
  if (file.endsWith('.yaml')) sets.push([file, [path.join(args['values-dir'], file)]]);
}

runChecks(sets.map(([name, files]) => [`helm lint --strict, ${name}`, () => {
  const tools = new Tools(args.tools);
  const lintArgs = ['lint', '--strict', args.chart];
  for (const file of files) lintArgs.push('--values', file);
  const result = tools.runHelm(lintArgs);
  const output = `${result.stdout}\n${result.stderr}`;
  assert.equal(result.status, 0, `helm lint failed:\n${output}`);
  assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, output);
  for (const line of output.split('\n')) {
    assert.doesNotMatch(line, /\[(WARNING|ERROR)\]|funcMap fail|level=(WARN|ERROR)/, output);
  }
}]));
