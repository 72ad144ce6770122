// Shared by the Helm chart tests: the tools installed by install-tools.sh,
// rendering the chart with helm, validating rendered objects against the
// Kubernetes API schemas (kubernetes-models), and small assertion helpers.
'use strict';

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');

// ParseArgs reads --name value pairs (and repeated ones, as arrays when
// `repeated` names them) into an object; a missing required one is fatal.
function parseArgs(argv, required, repeated = []) {
  const args = {};
  for (const name of repeated) args[name] = [];
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!flag.startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${flag}: expected --name value pairs`);
    }
    const name = flag.slice(2);
    if (repeated.includes(name)) args[name].push(argv[i + 1]);
    else args[name] = argv[i + 1];
  }
  for (const name of required) {
    if (args[name] === undefined) throw new Error(`missing --${name}`);
  }
  return args;
}

// Tools gives the tests the helm binary and the npm packages installed in
// `dir` by install-tools.sh. Throws (failing the test) when they are not
// there: the tests never skip for want of a tool.
class Tools {
  constructor(dir) {
    this.dir = path.resolve(dir);
    this.helm = path.join(this.dir, 'bin', 'helm');
    if (!fs.existsSync(this.helm) || !fs.existsSync(path.join(this.dir, 'node_modules'))) {
      throw new Error(`the chart test tools are not installed in ${dir} ` +
                      '(the helm_tools test installs them: run it first, with network access)');
    }
    this.require = createRequire(path.join(this.dir, 'package.json'));
    this.yaml = this.require('yaml');
  }

  // Helm runs helm with `args` and returns {status, stdout, stderr}.
  runHelm(args) {
    const result = spawnSync(this.helm, args, {
      encoding: 'utf8',
      // No user configuration, cache or plugins of the machine.
      env: {
        PATH: process.env.PATH,
        HELM_CACHE_HOME: path.join(this.dir, 'helm-home', 'cache'),
        HELM_CONFIG_HOME: path.join(this.dir, 'helm-home', 'config'),
        HELM_DATA_HOME: path.join(this.dir, 'helm-home', 'data'),
      },
      timeout: 60000,
    });
    if (result.error) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  // Render runs `helm template` and returns the rendered objects, in order.
  // Throws with helm's message when rendering fails.
  render(chart, { release = 'sluice', namespace = 'sluice-test', valuesFiles = [], set = [] } = {}) {
    const args = ['template', release, chart, '--namespace', namespace];
    for (const file of valuesFiles) args.push('--values', file);
    for (const s of set) args.push('--set', s);
    const result = this.runHelm(args);
    if (result.status !== 0) {
      throw new Error(`helm ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr}`);
    }
    return this.parseYamlStream(result.stdout);
  }

  // ParseYamlStream parses a multi-document YAML stream, dropping empty
  // documents; a YAML error is fatal.
  parseYamlStream(text) {
    const objects = [];
    for (const doc of this.yaml.parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`bad YAML: ${doc.errors[0].message}`);
      const value = doc.toJS();
      if (value !== null && value !== undefined) objects.push(value);
    }
    return objects;
  }

  // Model returns the kubernetes-models class of an apiVersion and kind:
  // the built-in API, or the Prometheus Operator's CRDs. Throws for a kind
  // it has no schema for, so that nothing is rendered unchecked.
  model(apiVersion, kind) {
    const module = apiVersion.startsWith('monitoring.coreos.com/')
      ? `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`
      : `kubernetes-models/${apiVersion}/${kind}`;
    let exports;
    try {
      exports = this.require(module);
    } catch (error) {
      throw new Error(`no Kubernetes API schema for ${apiVersion} ${kind} (${module}): ${error.message}`);
    }
    if (typeof exports[kind] !== 'function') throw new Error(`${module} has no class ${kind}`);
    return exports[kind];
  }

  // Validate checks one object against the schema of its kind, the way the
  // API server's OpenAPI validation would; throws naming the object and the
  // failing field.
  validate(object) {
    assert.ok(object.apiVersion && object.kind, `an object without apiVersion/kind: ${JSON.stringify(object)}`);
    const Model = this.model(object.apiVersion, object.kind);
    try {
      new Model(object).validate();
    } catch (error) {
      throw new Error(`${object.kind} ${object.metadata?.name}: ${error.message}`);
    }
  }
}

// ByKind returns the rendered objects of a kind.
function byKind(objects, kind) {
  return objects.filter((o) => o.kind === kind);
}

// OneOfKind returns the one object of a kind, failing unless there is
// exactly one.
function oneOfKind(objects, kind) {
  const found = byKind(objects, kind);
  assert.equal(found.length, 1, `expected one ${kind}, rendered ${found.length}`);
  return found[0];
}

// SluiceContainer returns the StatefulSet and its sluice container.
function sluiceContainer(objects) {
  const statefulSet = oneOfKind(objects, 'StatefulSet');
  const containers = statefulSet.spec.template.spec.containers;
  const container = containers.find((c) => c.name === 'sluice');
  assert.ok(container, 'the StatefulSet has no container named sluice');
  return { statefulSet, container };
}

// FlagValue returns the value of `--name=value` in args (the last one
// wins, as in the CLI), or undefined.
function flagValue(args, name) {
  let value;
  for (const arg of args) {
    if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3);
  }
  return value;
}

// ServeSettings returns what the rendered `sluice serve` runs with: the
// config.yaml its --config flag names (the ConfigMap item mounted at that
// path), and the flags of the command line, which win over the file (a flag
// given there replaces the file's key, the whole list of a repeatable one).
// Values are strings, as the binary reads them (YAML's failsafe schema), each
// setting a list (one item unless repeated). Fails when --config is missing
// or names no mounted ConfigMap item.
//   {configPath, configMap, configKey, file, flags, all(name), get(name)}
function serveSettings(tools, objects) {
  const { statefulSet, container } = sluiceContainer(objects);
  const args = container.args ?? [];
  assert.equal(args[0], 'serve', 'the container runs sluice serve');
  const flags = {};
  for (let i = 1; i < args.length; i++) {
    const arg = String(args[i]);
    let name;
    let value;
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (match) {
      name = match[1];
      value = match[2];
    } else if (arg === '-f') {
      name = 'manifest';
    } else {
      assert.fail(`serve argument ${JSON.stringify(arg)} is not a flag`);
    }
    if (value === undefined) {
      assert.ok(i + 1 < args.length, `--${name} has no value`);
      value = String(args[++i]);
    }
    (flags[name] ??= []).push(value);
  }
  assert.equal(flags.config?.length, 1, 'sluice serve gets one --config');
  const configPath = flags.config[0];
  delete flags.config;

  const volumes = statefulSet.spec.template.spec.volumes ?? [];
  let configMap;
  let configKey;
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.find((v) => v.name === mount.name);
    if (!volume?.configMap) continue;
    for (const item of volume.configMap.items ?? []) {
      if (path.posix.join(mount.mountPath, item.path) !== configPath) continue;
      configMap = oneOfKind(objects, 'ConfigMap');
      assert.equal(configMap.metadata.name, volume.configMap.name, 'the config volume is the chart\'s ConfigMap');
      configKey = item.key;
    }
  }
  assert.ok(configKey, `--config=${configPath} is not an item of a mounted ConfigMap`);
  assert.ok(configKey in configMap.data, `the ConfigMap has no ${configKey}`);
  const parsed = tools.yaml.parse(configMap.data[configKey], { schema: 'failsafe' });
  assert.ok(parsed && typeof parsed === 'object' && !Array.isArray(parsed),
            `${configKey} is a mapping of flag names to values`);
  const file = {};
  for (const [name, value] of Object.entries(parsed)) {
    assert.match(name, /^[a-z][a-z0-9-]*$/, `${configKey}: ${name} is a flag name`);
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      assert.equal(typeof item, 'string', `${configKey}: ${name} holds values, not ${JSON.stringify(item)}`);
    }
    file[name] = values;
  }
  const all = (name) => flags[name] ?? file[name] ?? [];
  return { configPath, configMap, configKey, file, flags, all, get: (name) => all(name).at(-1) };
}

// ParseDurationSeconds reads a duration as sluice's flags take it (30s,
// 1h30m, 500ms) into seconds; throws on anything else.
function parseDurationSeconds(text) {
  const units = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const pattern = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/gy;
  let seconds = 0;
  let end = 0;
  for (const match of String(text).matchAll(pattern)) {
    seconds += Number(match[1]) * units[match[2]];
    end = match.index + match[0].length;
  }
  if (end === 0 || end !== String(text).length) throw new Error(`not a duration: ${text}`);
  return seconds;
}

// Directives reads the `# name: value` header lines of a values file, which
// tell the tests what to expect of it: expect-kinds (the rendered kinds),
// expect-error (part of helm's refusal), invoke (NAME PAYLOAD => OUTPUT),
// drain (FUNCTION PAYLOAD, running while the server drains), payload-limit
// (FUNCTION: an echoing function to try the payload limit with) and
// flag-wins (NAME: a setting of config.yaml that a flag overrides).
function directives(file) {
  const found = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^#\s*(expect-kinds|expect-error|invoke|drain|payload-limit|flag-wins):\s*(.*)$/.exec(line);
    if (!match) continue;
    (found[match[1]] ??= []).push(match[2].trim());
  }
  return found;
}

// RunChecks runs named checks in order, printing one line each, and exits
// non-zero at the first failure.
async function runChecks(checks) {
  let passed = 0;
  for (const [name, check] of checks) {
    const started = Date.now();
    try {
      await check();
    } catch (error) {
      console.log(`FAIL ${name}`);
      console.log(error && error.stack ? error.stack : String(error));
      console.log(`stopped after ${passed} checks that held`);
      process.exit(1);
    }
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  }
  console.log(`all ${passed} checks held`);
}

module.exports = {
  Tools, parseArgs, byKind, oneOfKind, sluiceContainer, flagValue, serveSettings,
  parseDurationSeconds, directives, runChecks,
};
