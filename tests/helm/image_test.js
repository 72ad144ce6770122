// helm_image: the chart's defaults agree with the repository's Dockerfile,
// read statically (no container is built):
//   - the build stage is Debian 12 running scripts/install-deps.sh, the
//     image Debian 12 slim;
//   - the chart's default image is sluice:<appVersion>, and appVersion is
//     the project's version (CMakeLists.txt) and the Dockerfile's;
//   - the rendered command is the image's ENTRYPOINT, the container ports are
//     the ones it EXPOSEs, the user and group are its USER (non-root), the
//     data directory is one it makes for that user;
//   - every artifact the default manifest names is copied into the image,
//     and the chart's example functions are functions/examples/sluice.yaml's;
//   - the image installs exactly the Debian packages of the shared libraries
//     that the sluice binary and the example functions it ships need (their NEEDED
//     entries, resolved by ldd and looked up with dpkg), and tini;
//   - .dockerignore keeps build trees, .git and node_modules out.
//
//   node image_test.js --tools DIR --chart DIR --source-dir DIR
//                      --sluice FILE --functions-dir DIR
'use strict';

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const {
  Tools, parseArgs, oneOfKind, sluiceContainer, flagValue, serveSettings, runChecks,
} = require('./lib.js');

const args = parseArgs(process.argv.slice(2),
                       ['tools', 'chart', 'source-dir', 'sluice', 'functions-dir']);
const source = args['source-dir'];
// Packages every Debian image has (priority required): not listed.
const kInBaseImage = new Set(['libc6', 'libgcc-s1']);

// ParseDockerfile splits a Dockerfile into stages of {from, alias,
// instructions: [{keyword, value}]}, joining continued lines.
function parseDockerfile(text) {
  const logical = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && current === '') continue;
    if (/^\s*#/.test(line)) continue;  // comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  const stages = [];
  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    assert.ok(match, `bad Dockerfile line: ${line}`);
    const keyword = match[1].toUpperCase();
    const value = match[2].replace(/\s+/g, ' ');
    if (keyword === 'FROM') {
      const from = /^(\S+)(?: AS (\S+))?$/i.exec(value);
      stages.push({ from: from[1], alias: from[2], instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${keyword} before FROM`);
      stages.at(-1).instructions.push({ keyword, value });
    }
  }
  return stages;
}

function instructions(stage, keyword) {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.value);
}

// AptInstalled returns the packages `apt-get install` names in a stage.
function aptInstalled(stage) {
  const packages = new Set();
  for (const run of instructions(stage, 'RUN')) {
    for (const match of run.matchAll(/apt-get install ((?:[^&;|])*)/g)) {
      for (const word of match[1].trim().split(' ')) {
        if (!word.startsWith('-')) packages.add(word);
      }
    }
  }
  return packages;
}

// DebianPackagesOf returns the package that ships each of `files`:
// {file: package}, asking dpkg once for all of them, each path as given, as
// resolved, and with and without /usr (merged /usr). Throws for a file no
// package ships.
function debianPackagesOf(files) {
  const candidates = new Map();
  for (const file of files) {
    const names = new Set([file, fs.realpathSync(file)]);
    for (const name of [...names]) names.add(name.startsWith('/usr/') ? name.slice(4) : `/usr${name}`);
    candidates.set(file, [...names]);
  }
  const result = spawnSync('dpkg', ['-S', ...new Set([...candidates.values()].flat())],
                           { encoding: 'utf8' });
  const owner = new Map();
  for (const match of result.stdout.matchAll(/^([^:\s]+)(?::\S+)?: (\/.*)$/gm)) {
    owner.set(match[2], match[1]);
  }
  const packages = {};
  for (const [file, names] of candidates) {
    const found = names.map((n) => owner.get(n)).find((p) => p);
    if (!found) throw new Error(`no Debian package ships ${file}`);
    packages[file] = found;
  }
  return packages;
}

// DirectLibraries returns the shared libraries a file needs itself (its
// NEEDED entries), each with the path ldd resolves it to: {name: path}. The
// libraries those need come with their packages' dependencies.
function directLibraries(file) {
  const ldd = spawnSync('ldd', [file], { encoding: 'utf8' });
  assert.equal(ldd.status, 0, `ldd ${file}: ${ldd.stderr}`);
  const resolved = {};
  for (const line of ldd.stdout.split('\n')) {
    assert.doesNotMatch(line, /not found/, `ldd ${file}: ${line}`);
    const match = /^\s*(\S+) => (\/\S+)/.exec(line);
    if (match) resolved[match[1]] = match[2];
  }
  const readelf = spawnSync('readelf', ['-d', file], { encoding: 'utf8' });
  assert.equal(readelf.status, 0, `readelf -d ${file}: ${readelf.stderr}`);
  const libraries = {};
  for (const match of readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
    const name = match[1];
    if (name.startsWith('ld-linux')) continue;  // the dynamic loader, in libc6
    assert.ok(resolved[name], `ldd does not resolve ${name} of ${file}`);
    libraries[name] = resolved[name];
  }
  assert.ok(Object.keys(libraries).length > 0, `${file} needs no shared library?`);
  return libraries;
}

const state = {};

runChecks([
  ['the Dockerfile has a Debian 12 build stage and a Debian 12 slim image', () => {
    state.stages = parseDockerfile(fs.readFileSync(path.join(source, 'Dockerfile'), 'utf8'));
    assert.ok(state.stages.length >= 2, 'a multi-stage build');
    const build = state.stages[0];
    state.image = state.stages.at(-1);
    assert.equal(build.from, 'debian:12');
    assert.ok(build.alias, 'the build stage is named');
    assert.ok(instructions(build, 'RUN').some((r) => /\bscripts\/install-deps\.sh\b/.test(r)),
              'the build stage installs its dependencies with scripts/install-deps.sh');
    assert.equal(state.image.from, 'debian:12-slim');
    for (const copy of instructions(state.image, 'COPY')) {
      assert.match(copy, new RegExp(`^--from=${build.alias} `), `the image copies only built files: ${copy}`);
    }
  }],

  ['the chart renders its defaults', () => {
    const tools = new Tools(args.tools);
    state.tools = tools;
    state.objects = tools.render(args.chart, {});
    state.chart = tools.yaml.parse(fs.readFileSync(path.join(args.chart, 'Chart.yaml'), 'utf8'));
    Object.assign(state, sluiceContainer(state.objects));
    state.settings = serveSettings(tools, state.objects);
  }],

  ['the default image is the Dockerfile\'s, at the project\'s version', () => {
    const cmake = fs.readFileSync(path.join(source, 'CMakeLists.txt'), 'utf8');
    const version = /project\(sluice VERSION (\S+)/.exec(cmake)?.[1];
    assert.ok(version, 'the project version in CMakeLists.txt');
    assert.equal(state.chart.appVersion, version, 'Chart.yaml appVersion');
    assert.equal(state.container.image, `sluice:${version}`, 'the default image');
    const dockerfile = fs.readFileSync(path.join(source, 'Dockerfile'), 'utf8');
    assert.ok(dockerfile.includes(`docker build -t sluice:${version} .`),
              'the Dockerfile tells to build the image the chart runs');
    const versionArg = instructions(state.image, 'ARG').find((a) => a.startsWith('SLUICE_VERSION='));
    assert.equal(versionArg, `SLUICE_VERSION=${version}`, 'the image version label');
  }],

  ['the command, ports and user are the image\'s', () => {
    const entrypoint = instructions(state.image, 'ENTRYPOINT');
    assert.equal(entrypoint.length, 1, 'one ENTRYPOINT');
    assert.deepEqual(state.container.command, JSON.parse(entrypoint[0]), 'command = ENTRYPOINT');

    const exposed = instructions(state.image, 'EXPOSE').flatMap((e) => e.split(' ')).map(Number).sort();
    const ports = state.container.ports.map((p) => p.containerPort).sort();
    assert.deepEqual(ports, exposed, 'container ports = EXPOSE');
    // The image's own CMD listens on the same ports.
    const cmd = JSON.parse(instructions(state.image, 'CMD')[0]);
    assert.equal(flagValue(cmd, 'listen'), state.settings.get('listen'));
    assert.equal(flagValue(cmd, 'metrics-listen'), state.settings.get('metrics-listen'));

    const users = instructions(state.image, 'USER');
    assert.equal(users.length, 1, 'one USER');
    const [uid, gid] = users[0].split(':').map(Number);
    assert.ok(uid > 0 && gid > 0, `USER ${users[0]} is numeric and not root`);
    const podSecurity = state.statefulSet.spec.template.spec.securityContext;
    const security = state.container.securityContext;
    assert.equal(podSecurity.runAsUser, uid);
    assert.equal(podSecurity.runAsGroup, gid);
    assert.equal(podSecurity.fsGroup, gid);
    assert.equal(security.runAsUser, uid);
    assert.equal(security.runAsGroup, gid);

    const dataDir = state.settings.get('data-dir');
    assert.ok(instructions(state.image, 'RUN').some((r) => r.includes(`install -d -o ${uid} -g ${gid}`) &&
                                                          r.includes(dataDir)),
              `the image makes ${dataDir} for its user`);
    assert.deepEqual(instructions(state.image, 'WORKDIR'), [dataDir]);
  }],

  ['every artifact of the default manifest is in the image', () => {
    const configMap = oneOfKind(state.objects, 'ConfigMap');
    const manifest = state.tools.yaml.parse(configMap.data['sluice.yaml']);
    const build = state.stages[0];
    const buildRuns = instructions(build, 'RUN').join(' ');
    const copies = instructions(state.image, 'COPY').map((c) => c.split(' ').at(-1));
    for (const fn of manifest.functions) {
      assert.ok(path.isAbsolute(fn.artifact), `${fn.name}: ${fn.artifact}`);
      const dir = `${path.dirname(fn.artifact)}/`;
      assert.ok(copies.includes(dir), `${fn.name}: nothing is copied to ${dir}`);
      const file = path.basename(fn.artifact);
      assert.ok(buildRuns.includes(`/${file}`), `${fn.name}: the build stage does not stage ${file}`);
      const target = /^lib(.*)\.so$/.exec(file)[1];
      assert.match(buildRuns, new RegExp(`--target [^&]*\\b${target}\\b`), `the build stage builds ${target}`);
    }
  }],

  ['the chart\'s example functions are functions/examples/sluice.yaml\'s', () => {
    const configMap = oneOfKind(state.objects, 'ConfigMap');
    const manifest = state.tools.yaml.parse(configMap.data['sluice.yaml']);
    const examples = state.tools.yaml.parse(
      fs.readFileSync(path.join(source, 'functions/examples/sluice.yaml'), 'utf8'));
    const dir = path.dirname(manifest.functions[0].artifact);
    for (const fn of examples.functions) {
      fn.artifact = fn.artifact.replace(/^\.\.\/\.\.\/build\/functions\//, `${dir}/`);
    }
    assert.deepEqual(manifest.functions, examples.functions);
  }],

  ['the image installs the packages of the libraries loaded, and only those', () => {
    const installed = aptInstalled(state.image);
    assert.ok(installed.size > 0, 'the image installs packages');
    // The binary and the example functions the build stage puts in the image.
    const files = [args.sluice];
    const shipped = new Set();
    for (const run of instructions(state.stages[0], 'RUN')) {
      for (const match of run.matchAll(/\/(lib[-\w]+\.so)\b/g)) shipped.add(match[1]);
    }
    assert.ok(shipped.size > 0, 'the build stage stages no example function');
    for (const file of shipped) files.push(path.join(args['functions-dir'], file));
    // The init process of the ENTRYPOINT, and each library.
    const what = new Map([[JSON.parse(instructions(state.image, 'ENTRYPOINT')[0])[0], 'tini']]);
    for (const file of files) {
      for (const [name, library] of Object.entries(directLibraries(file))) what.set(library, name);
    }
    const packages = debianPackagesOf([...what.keys()]);
    const needed = new Map(Object.entries(packages).map(([file, pkg]) => [pkg, what.get(file)]));
    // Not a library: the time zone database that schedules in a time zone read.
    needed.set('tzdata', '/usr/share/zoneinfo');
    assert.ok(needed.has('libtcmalloc-minimal4'), 'the serving binary links tcmalloc');
    assert.ok(needed.has('tini'), 'the entrypoint is tini');
    for (const [pkg, library] of needed) {
      if (kInBaseImage.has(pkg)) continue;
      assert.ok(installed.has(pkg), `${library} is in ${pkg}, which the image does not install`);
    }
    for (const pkg of installed) {
      assert.ok(needed.has(pkg), `the image installs ${pkg}, which nothing it runs loads`);
    }
  }],

  ['.dockerignore keeps build trees, .git and node_modules out', () => {
    const patterns = fs.readFileSync(path.join(source, '.dockerignore'), 'utf8')
      .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const pattern of ['.git', 'build*', '**/node_modules']) {
      assert.ok(patterns.includes(pattern), `.dockerignore lacks ${pattern}`);
    }
  }],
]);
