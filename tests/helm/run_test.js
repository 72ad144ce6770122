// helm_run_*: the chart's rendered pod, run with the real sluice binary on
// this machine. From `helm template` with one value set it takes the sluice
// container's command, args, env, ports, probes and volume mounts, and the
// ConfigMap, and runs them as the kubelet would, with these substitutions
// only:
//   - image paths become local ones (--image-path IMAGE=LOCAL: the binary,
//     the example functions), also inside the mounted config.yaml and
//     manifest;
//   - each volume mount becomes a fresh temporary directory (a configMap
//     volume holds its items, with their modes: the rendered config.yaml is
//     the file the server reads with --config);
//   - the listen addresses, in config.yaml or flags, become loopback port 0
//     (free ports), and --ready-file tells the test which ports were bound;
//   - fieldRef variables get the pod's name and namespace; $(VAR) references
//     are expanded like the kubelet does;
//   - the securityContext is applied with setpriv: no new privileges and,
//     when the test runs as root, the container's user and group, fsGroup
//     as the owner of the writable volumes, no capabilities. (The read-only
//     root filesystem is not emulated.)
// Then it checks: the server runs with config.yaml's settings, flags
// winning: the data directory is the data volume, the log lines are in the
// log format set, and, with `# payload-limit: FUNCTION`, the payload limit is
// the one set (`# flag-wins: NAME`: a flag that overrides config.yaml's NAME
// is in force); the startup, readiness and liveness probes pass as
// defined (gRPC health or HTTP GET, on the ports they name); /metrics
// answers in the Prometheus text format; exactly the functions and triggers
// of the ConfigMap's manifests exist; the value set's `# invoke:` lines
// answer as expected and show in /metrics; the commands of NOTES.txt work
// against the server; and on SIGTERM the pod stops, exit status 0, within
// its terminationGracePeriodSeconds — with `# drain: FUNCTION PAYLOAD`,
// while that invocation runs, during which readiness fails and liveness
// passes.
//
//   node run_test.js --tools DIR --chart DIR --values FILE
//                    --image-path IMAGE=LOCAL [--image-path ...]
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const {
  Tools, parseArgs, oneOfKind, byKind, sluiceContainer, serveSettings, directives, runChecks,
} = require('./lib.js');

const args = parseArgs(process.argv.slice(2), ['tools', 'chart', 'values'], ['image-path']);
const release = 'sluice';
const namespace = 'sluice-test';
// The longest any step may take; the server is normally up in well under a second.
const kStepDeadlineMs = 20000;

// Poll calls `attempt` (an async function returning a truthy value on
// success) every 50 ms until it succeeds or `ms` pass; returns its value, or
// throws with the last error (at once for an error marked `fatal`).
async function poll(what, ms, attempt) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await attempt();
      if (value) return value;
    } catch (error) {
      if (error.fatal) throw error;
      last = error;
    }
    if (Date.now() > end) {
      throw new Error(`${what}: not within ${ms} ms${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// PathMap rewrites container paths to local ones, longest prefix first.
class PathMap {
  constructor() { this.entries = []; }

  add(containerPath, localPath) {
    this.entries.push([containerPath.replace(/\/$/, ''), localPath]);
    this.entries.sort((a, b) => b[0].length - a[0].length);
  }

  // Rewrite replaces, in one pass, every container path in `text` that
  // starts with a mapped prefix (whole path components only).
  rewrite(text) {
    if (this.entries.length === 0) return text;
    const escape = (p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const alternatives = this.entries.map(([from]) => escape(from)).join('|');
    const pattern = new RegExp(`(^|[\\s="'\\[])(${alternatives})(?=/|$|[\\s"',\\]])`, 'gm');
    const map = new Map(this.entries);
    return text.replace(pattern, (_, before, from) => `${before}${map.get(from)}`);
  }
}

// Descendants returns the processes below `pid`, parents before children,
// from /proc.
function descendants(pid) {
  const found = [];
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch (error) {
    return found;  // gone
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch (error) {
      continue;
    }
    for (const child of children.split(/\s+/).filter(Boolean).map(Number)) {
      found.push(child, ...descendants(child));
    }
  }
  return found;
}

// ExpandEnv builds the container's environment as the kubelet does: values
// in order, $(VAR) expanded from the variables before, $$ escaping, fieldRef
// for the pod's name and namespace.
function expandEnv(envList, podName, pathMap) {
  const env = {};
  for (const entry of envList ?? []) {
    let value;
    if (entry.valueFrom) {
      const field = entry.valueFrom.fieldRef?.fieldPath;
      if (field === 'metadata.name') value = podName;
      else if (field === 'metadata.namespace') value = namespace;
      else throw new Error(`env ${entry.name}: unsupported valueFrom ${JSON.stringify(entry.valueFrom)}`);
    } else {
      value = (entry.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (match, name) => (match === '$$' ? '$' : (name in env ? env[name] : match)));
      value = pathMap.rewrite(value);
    }
    env[entry.name] = value;
  }
  return env;
}

// HealthCheck calls grpc.health.v1.Health/Check (service `service`) and
// returns the status name. The messages are encoded by hand: a string
// field 1 in the request, an enum field 1 in the response.
function healthCheck(grpc, address, service, timeoutMs) {
  const encode = (request) => {
    const bytes = Buffer.from(request.service ?? '', 'utf8');
    if (bytes.length === 0) return Buffer.alloc(0);
    assert.ok(bytes.length < 128, 'short service names only');
    return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
  };
  const decode = (buffer) => {
    let status = 0;
    if (buffer.length >= 2 && buffer[0] === 0x08) status = buffer[1];
    return { status: ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][status] ?? `${status}` };
  };
  const Client = grpc.makeGenericClientConstructor({
    Check: {
      path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false,
      requestSerialize: encode, requestDeserialize: () => ({}),
      responseSerialize: () => Buffer.alloc(0), responseDeserialize: decode,
    },
  }, 'Health');
  const client = new Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.Check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response.status);
    });
  });
}

// HttpGet gets a URL and returns {status, headers, body}.
function httpGet(url, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    // A fresh connection each time, as the kubelet and Prometheus make.
    const request = http.get(url, { headers, timeout: timeoutMs, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body }));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

// State shared by the checks, filled in as they go.
const state = {};

async function main() {
  const tools = new Tools(args.tools);
  const grpc = tools.require('@grpc/grpc-js');
  const imagePaths = new Map(args['image-path'].map((entry) => {
    const at = entry.indexOf('=');
    if (at <= 0) throw new Error(`--image-path ${entry}: expected IMAGE=LOCAL`);
    return [entry.slice(0, at), entry.slice(at + 1)];
  }));
  const expectations = directives(args.values);
  const invokes = (expectations.invoke ?? []).map((line) => {
    const match = /^(\S+) (.*) => (.*)$/.exec(line);
    if (!match) throw new Error(`bad "# invoke:" line: ${line}`);
    return { name: match[1], data: match[2], output: match[3] };
  });

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-helm-run-'));
  // Cleanup kills what still runs of the pod (the init process, the server
  // in a process group of its own, its workers), then removes the files.
  const cleanup = () => {
    if (state.child) {
      for (const pid of [state.child.pid, ...descendants(state.child.pid)]) {
        try { process.kill(pid, 'SIGKILL'); } catch (error) { /* gone already */ }
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(1));

  // The sluice binary: the last word of the container's command (after the
  // init process), as a local path; also the client for the checks.
  const sluiceBinary = () => state.pathMap.rewrite(state.command.at(-1));
  const cli = (cliArgs) => {
    const result = spawnSync(sluiceBinary(), ['--server', `${state.host}:${state.grpcPort}`, ...cliArgs],
                             { encoding: 'utf8', timeout: kStepDeadlineMs });
    if (result.error) throw result.error;
    return result;
  };

  // ProbeOnce runs a probe once as the kubelet does (gRPC health must answer
  // SERVING; an HTTP GET 200-399), on the port it names; resolves true, or
  // rejects saying why it failed.
  const probeOnce = async (probe) => {
    const actual = (port) => {
      const found = state.container.ports.find((p) => p.name === port || p.containerPort === port);
      assert.ok(found, `port ${port} is not a container port`);
      return { grpc: state.grpcPort, metrics: state.metricsPort }[found.name];
    };
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.grpc) {
      const address = `${state.host}:${actual(probe.grpc.port)}`;
      const status = await healthCheck(grpc, address, probe.grpc.service ?? '', timeoutMs);
      if (status !== 'SERVING') throw new Error(`gRPC health at ${address} answered ${status}`);
      return true;
    }
    if (probe.httpGet) {
      assert.equal(probe.httpGet.scheme ?? 'HTTP', 'HTTP');
      const headers = Object.fromEntries((probe.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]));
      const url = `http://${state.host}:${actual(probe.httpGet.port)}${probe.httpGet.path ?? '/'}`;
      const response = await httpGet(url, headers, timeoutMs);
      if (response.status < 200 || response.status >= 400) throw new Error(`GET ${url}: HTTP ${response.status}`);
      return true;
    }
    throw Object.assign(new Error('only gRPC and HTTP probes are run here'), { fatal: true });
  };

  await runChecks([
    ['the chart renders, with the pod, its ConfigMap and NOTES', () => {
      state.objects = tools.render(args.chart, { release, namespace, valuesFiles: [args.values] });
      const { statefulSet, container } = sluiceContainer(state.objects);
      state.statefulSet = statefulSet;
      state.container = container;
      state.podSpec = statefulSet.spec.template.spec;
      state.configMaps = byKind(state.objects, 'ConfigMap');
      state.settings = serveSettings(tools, state.objects);
      const install = tools.runHelm(['install', release, args.chart, '--dry-run=client',
                                     '--namespace', namespace, '--values', args.values]);
      assert.equal(install.status, 0, install.stderr);
      state.notes = install.stdout.slice(install.stdout.indexOf('NOTES:'));
      assert.ok(state.notes.startsWith('NOTES:'), 'the install output has NOTES');
    }],

    ['the image\'s files and the pod\'s volumes become local directories', () => {
      // As root, the container runs as its securityContext's user: the
      // image's files are copied where that user can read them, and the
      // claims and emptyDirs belong to fsGroup, as the kubelet makes them.
      const podSecurity = state.podSpec.securityContext ?? {};
      const security = state.container.securityContext ?? {};
      const uid = security.runAsUser ?? podSecurity.runAsUser;
      if (process.getuid() === 0 && uid !== undefined) {
        const gid = security.runAsGroup ?? podSecurity.runAsGroup ?? 0;
        state.user = { uid, gid, fsGroup: podSecurity.fsGroup };
      }
      fs.chmodSync(root, 0o755);
      const pathMap = new PathMap();
      for (const [image, local] of imagePaths) {
        assert.ok(fs.existsSync(local), `--image-path ${image}=${local}: ${local} does not exist`);
        const staged = path.join(root, 'image', image);
        fs.mkdirSync(path.dirname(staged), { recursive: true });
        fs.cpSync(local, staged, { recursive: true, dereference: true });
        pathMap.add(image, staged);
      }
      const claims = (state.statefulSet.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name);
      const volumes = new Map((state.podSpec.volumes ?? []).map((v) => [v.name, v]));
      const configFiles = [];
      for (const mount of state.container.volumeMounts) {
        assert.equal(mount.subPath, undefined, `mount ${mount.name}: subPath is not supported here`);
        const local = path.join(root, 'volumes', mount.name);
        fs.mkdirSync(local, { recursive: true });
        pathMap.add(mount.mountPath, local);
        const volume = volumes.get(mount.name);
        if (claims.includes(mount.name) || volume?.emptyDir) {
          if (state.user) {
            const group = state.user.fsGroup ?? state.user.gid;
            fs.chownSync(local, state.user.fsGroup === undefined ? state.user.uid : 0, group);
            fs.chmodSync(local, 0o2775);
          }
          continue;
        }
        assert.ok(volume?.configMap, `mount ${mount.name}: only claims, emptyDirs and configMaps run here`);
        const configMap = state.configMaps.find((c) => c.metadata.name === volume.configMap.name);
        assert.ok(configMap, `no rendered ConfigMap ${volume.configMap.name}`);
        const items = volume.configMap.items ??
                      Object.keys(configMap.data).map((key) => ({ key, path: key }));
        for (const item of items) {
          assert.ok(item.key in configMap.data, `ConfigMap key ${item.key}`);
          configFiles.push({
            file: path.join(local, item.path),
            content: configMap.data[item.key],
            mode: item.mode ?? volume.configMap.defaultMode ?? 0o644,
          });
        }
      }
      // After every mapping is known: config.yaml and the manifest name
      // image and volume paths. config.yaml's listen addresses become
      // loopback ones (of the same family) on free ports.
      const configFile = pathMap.rewrite(state.settings.configPath);
      for (const { file, content, mode } of configFiles) {
        let text = pathMap.rewrite(content);
        if (file === configFile) {
          const listening = new Set();
          text = text.replace(/^(listen|metrics-listen): *"?([^"\s]*):(\d+)"? *$/gm, (_, key, host) => {
            listening.add(key);
            return `${key}: "${host.startsWith('[') ? '[::1]' : '127.0.0.1'}:0"`;
          });
          for (const key of Object.keys(state.settings.file).filter((k) => /^(metrics-)?listen$/.test(k))) {
            assert.ok(listening.has(key), `config.yaml's ${key} is HOST:PORT on a line of its own`);
          }
        }
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
        fs.chmodSync(file, mode);
      }
      assert.ok(fs.existsSync(configFile), `--config ${state.settings.configPath} is a file of the pod`);
      // Where the server writes --ready-file.
      state.runDir = path.join(root, 'run');
      fs.mkdirSync(state.runDir);
      if (state.user) fs.chownSync(state.runDir, state.user.uid, state.user.gid);
      state.pathMap = pathMap;
    }],

    ['the container starts as rendered and becomes ready', async () => {
      const { container, pathMap } = state;
      state.command = container.command ?? [];
      assert.ok(state.command.length > 0, 'the container has a command');
      const argv = [...state.command, ...(container.args ?? [])].map((arg) => {
        const listen = /^(--(?:metrics-)?listen)=(.*):(\d+)$/.exec(arg);
        if (!listen) return pathMap.rewrite(arg);
        // Loopback of the same address family, port 0.
        const host = listen[2].startsWith('[') ? '[::1]' : '127.0.0.1';
        return `${listen[1]}=${host}:0`;
      });
      const listen = state.settings.get('listen');
      assert.ok(listen, 'the server has a listen address (config.yaml or --listen)');
      state.host = listen.startsWith('[') ? '[::1]' : '127.0.0.1';
      const readyFile = path.join(state.runDir, 'ready.json');
      argv.push(`--ready-file=${readyFile}`);
      assert.ok(fs.existsSync(argv[0]), `the container's command ${argv[0]} is not on this machine`);
      assert.equal(container.securityContext?.allowPrivilegeEscalation, false);

      const podName = `${state.statefulSet.metadata.name}-0`;
      const env = { PATH: process.env.PATH, ...expandEnv(container.env, podName, pathMap) };
      state.env = env;
      state.log = '';
      // The securityContext: no privilege escalation and, as root, the
      // container's user and groups with every capability dropped.
      const privileges = ['--no-new-privs'];
      if (state.user) {
        const security = container.securityContext ?? {};
        assert.ok(security.capabilities?.drop?.includes('ALL'), 'capabilities drop ALL');
        privileges.push(`--reuid=${state.user.uid}`, `--regid=${state.user.gid}`,
                        state.user.fsGroup === undefined ? '--clear-groups' : `--groups=${state.user.fsGroup}`,
                        '--inh-caps=-all', '--bounding-set=-all');
      }
      state.child = spawn('setpriv', [...privileges, '--', ...argv], {
        cwd: path.join(root, 'volumes'), env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      });
      state.child.stdout.on('data', (chunk) => { state.log += chunk; });
      state.child.stderr.on('data', (chunk) => { state.log += chunk; });
      state.exited = new Promise((resolve) => state.child.on('exit', (code, signal) => resolve({ code, signal })));

      try {
        const ready = await poll('the ready file', kStepDeadlineMs, async () => {
          if (state.child.exitCode !== null) {
            throw Object.assign(new Error(`sluice exited ${state.child.exitCode}`), { fatal: true });
          }
          return fs.existsSync(readyFile) && JSON.parse(fs.readFileSync(readyFile, 'utf8'));
        });
        state.grpcPort = ready.grpc_port;
        state.metricsPort = ready.metrics_port;
        assert.ok(state.grpcPort > 0 && state.metricsPort > 0, JSON.stringify(ready));
        // The store is on the data volume, where config.yaml's data-dir
        // points (the binary's default is ./sluice-data).
        const dataMount = container.volumeMounts.find((m) => m.name === 'data');
        assert.ok(dataMount, 'the container mounts the data volume');
        assert.equal(state.settings.get('data-dir'), dataMount.mountPath, 'data-dir is the data volume');
        const store = path.join(pathMap.rewrite(dataMount.mountPath), 'db');
        assert.ok(fs.existsSync(store), `no store in the data volume (${store})`);
        if (state.user) {
          assert.equal(fs.statSync(store).uid, state.user.uid, 'the server runs as the container\'s user');
        }
      } catch (error) {
        error.message += `\nserver output:\n${state.log}`;
        throw error;
      }
    }],

    ['the server runs with config.yaml\'s settings, flags winning', () => {
      const { settings } = state;
      // Every server line so far (start-up) is in the log format set; the
      // binary's own default is text. (Other lines, such as the init
      // process's warnings that it is not PID 1 here, are neither.)
      const format = settings.get('log-format') ?? 'text';
      const formatOf = (line) => {
        if (/^\d{4}-\d\d-\d\dT\S+Z (debug|info|warn|error) /.test(line)) return 'text';
        try {
          const entry = JSON.parse(line);
          if (entry.time && entry.level && entry.msg) return 'json';
        } catch (error) { /* not JSON */ }
        return undefined;
      };
      // Complete lines only: the last one may still be on its way.
      const lines = state.log.slice(0, state.log.lastIndexOf('\n')).split('\n');
      const formats = lines.map(formatOf).filter(Boolean);
      assert.ok(formats.length >= 2, `the server logged its start:\n${state.log}`);
      assert.deepEqual([...new Set(formats)], [format], `log lines in the ${format} format:\n${state.log}`);
      // A flag that overrides a setting of config.yaml.
      for (const name of expectations['flag-wins'] ?? []) {
        assert.ok(settings.file[name], `config.yaml sets ${name}`);
        assert.ok(settings.flags[name], `a flag sets ${name}`);
        assert.notDeepEqual(settings.flags[name], settings.file[name],
                            `the flag and config.yaml set ${name} alike: nothing to prove`);
      }
      // The payload limit in force: a payload of max-payload-bytes runs, one
      // byte more is refused.
      const fn = expectations['payload-limit']?.[0];
      if (fn) {
        const limit = Number(settings.get('max-payload-bytes'));
        assert.ok(limit > 0 && limit <= 8 << 20, `max-payload-bytes ${limit}`);
        const payload = path.join(root, `payload-${limit}`);
        fs.writeFileSync(payload, 'x'.repeat(limit));
        const fits = cli(['invoke', fn, '--data', `@${payload}`]);
        assert.equal(fits.status, 0, `a payload of ${limit} bytes: ${fits.stderr}`);
        assert.equal(fits.stdout.length, limit, `${fn} answers its ${limit}-byte payload`);
        fs.appendFileSync(payload, 'x');
        const over = cli(['invoke', fn, '--data', `@${payload}`]);
        assert.equal(over.status, 2, `a payload of ${limit + 1} bytes: exit ${over.status}, ${over.stderr}`);
        assert.match(over.stderr, new RegExp(`over the limit of ${limit} bytes`));
      }
    }],

    ...['startupProbe', 'readinessProbe', 'livenessProbe'].map((kind) => [
      `the ${kind} passes as defined`, async () => {
        const probe = state.container[kind];
        assert.ok(probe, `no ${kind}`);
        // The kubelet tries every periodSeconds until failureThreshold; the
        // server is already up, so a bounded poll stands in for that.
        const budgetMs = Math.min(kStepDeadlineMs,
                                  (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3) * 1000);
        await poll(`${kind}`, budgetMs, () => probeOnce(probe));
      }]),

    ['/metrics answers in the Prometheus text format', async () => {
      const response = await httpGet(`http://${state.host}:${state.metricsPort}/metrics`, {}, 5000);
      assert.equal(response.status, 200);
      assert.match(response.headers['content-type'], /^text\/plain/);
      for (const family of ['process_start_time_seconds gauge', 'sluice_store_commits_total counter',
                            'grpc_server_handled_total counter']) {
        assert.ok(response.body.includes(`\n# TYPE ${family}\n`), `/metrics has no ${family}`);
      }
    }],

    ['the functions and triggers of the ConfigMap\'s manifests exist', () => {
      const expected = [];
      const expectedTriggers = [];
      for (const manifestPath of state.settings.all('manifest')) {
        const manifestFile = state.pathMap.rewrite(manifestPath);
        const manifest = tools.yaml.parse(fs.readFileSync(manifestFile, 'utf8'));
        for (const fn of manifest.functions ?? []) {
          fn.artifact = path.resolve(path.dirname(manifestFile), fn.artifact);
          expected.push(fn);
        }
        expectedTriggers.push(...(manifest.triggers ?? []));
      }
      const result = cli(['-o', 'json', 'ls']);
      assert.equal(result.status, 0, `sluice ls failed: ${result.stderr}`);
      const deployed = JSON.parse(result.stdout).functions ?? [];
      assert.deepEqual(deployed.map((f) => f.spec.name).sort(), expected.map((f) => f.name).sort(),
                       'the deployed functions');
      for (const fn of expected) {
        const found = deployed.find((f) => f.spec.name === fn.name);
        const sha256 = crypto.createHash('sha256').update(fs.readFileSync(fn.artifact)).digest('hex');
        assert.equal(found.sha256, sha256, `${fn.name} runs the artifact ${fn.artifact}`);
        assert.equal(found.spec.runtime, `RUNTIME_${fn.runtime.toUpperCase()}`, `${fn.name} runtime`);
        if (fn.concurrency) assert.equal(found.spec.concurrency, fn.concurrency, `${fn.name} concurrency`);
        if (fn.memory_mb) assert.equal(found.spec.memoryMb, fn.memory_mb, `${fn.name} memory_mb`);
        // A grpc:// destination deploys only when callback-allow allows it.
        for (const [key, field] of [['on_success', 'onSuccess'], ['on_failure', 'onFailure']]) {
          if (fn[key]) assert.equal(found.spec[field], fn[key], `${fn.name} ${key}`);
        }
      }
      const listed = cli(['-o', 'json', 'triggers', 'ls']);
      assert.equal(listed.status, 0, `sluice triggers ls failed: ${listed.stderr}`);
      const triggers = JSON.parse(listed.stdout).triggers ?? [];
      assert.deepEqual(triggers.map((t) => t.name).sort(), expectedTriggers.map((t) => t.name).sort(),
                       'the triggers');
      for (const want of expectedTriggers) {
        const found = triggers.find((t) => t.name === want.name);
        assert.equal(found.function, want.function, `trigger ${want.name} starts ${want.function}`);
        if (want.schedule !== undefined) {
          assert.equal(found.schedule?.cron, want.schedule, `trigger ${want.name} schedule`);
          assert.equal(found.schedule.timeZone ?? '', want.time_zone ?? '', `trigger ${want.name} time_zone`);
          assert.ok(found.nextFireTime, `trigger ${want.name} is scheduled`);
        } else if (want.route !== undefined) {
          assert.equal(found.route?.method, want.route, `trigger ${want.name} route`);
        } else {
          assert.equal(found.event?.topic ?? '', want.topic ?? '', `trigger ${want.name} topic`);
          assert.equal(found.event?.type ?? '', want.type ?? '', `trigger ${want.name} type`);
          assert.equal(found.event?.filters?.length ?? 0, want.filters?.length ?? 0,
                       `trigger ${want.name} filters`);
        }
      }
    }],

    ['the value set\'s functions answer', async () => {
      assert.ok(invokes.length > 0, `${args.values} has no "# invoke:" line`);
      for (const { name, data, output } of invokes) {
        const result = cli(['invoke', name, '--data', data]);
        assert.equal(result.status, 0, `sluice invoke ${name} failed: ${result.stderr}\n${state.log}`);
        assert.equal(result.stdout.trim(), output, `sluice invoke ${name} --data '${data}'`);
      }
      const response = await httpGet(`http://${state.host}:${state.metricsPort}/metrics`, {}, 5000);
      for (const { name } of invokes) {
        const counted = new RegExp(`^sluice_invocations_total\\{[^}]*function="${name}"[^}]*\\} [1-9]`, 'm');
        assert.ok(counted.test(response.body), `/metrics counts no invocation of ${name}`);
      }
    }],

    ['the commands of NOTES.txt work', () => {
      // The client commands, run inside the pod (kubectl exec POD -- ...) or
      // through a port-forward to the Service, against this server; each
      // must name the port that leads to the gRPC API that way.
      const grpcContainerPort = state.container.ports.find((p) => p.name === 'grpc').containerPort;
      const service = oneOfKind(state.objects, 'Service');
      const servicePort = service.spec.ports.find((p) => p.name === 'grpc').port;
      const podName = `${state.statefulSet.metadata.name}-0`;
      let forwardedPort;
      const lines = [];
      for (const raw of state.notes.split('\n')) {
        const line = raw.trim();
        const forward = /^kubectl .*port-forward svc\/(\S+) (\d+):(\d+)$/.exec(line);
        if (forward && forward[1] === service.metadata.name && Number(forward[3]) === servicePort) {
          forwardedPort = Number(forward[2]);
          continue;
        }
        const exec = /^kubectl .* exec (\S+) -- (.*)$/.exec(line);
        let command = line;
        let expectedPort = forwardedPort;
        if (exec) {
          assert.equal(exec[1], podName, `NOTES: ${line}`);
          command = exec[2];
          expectedPort = grpcContainerPort;
        }
        if (!/(^|\$\()sluice --server /.test(command) || / deploy /.test(command)) continue;
        lines.push(command.replace(/\bsluice --server 127\.0\.0\.1:(\d+)/g, (match, port) => {
          assert.equal(Number(port), expectedPort, `NOTES: ${line}: the wrong port`);
          return `"$SLUICE" --server ${state.host}:${state.grpcPort}`;
        }));
      }
      assert.ok(lines.some((l) => / invoke /.test(l)), `NOTES shows no invocation:\n${state.notes}`);
      const script = `set -euo pipefail\n${lines.join('\n')}\n`;
      const result = spawnSync('bash', ['-c', script], {
        encoding: 'utf8', timeout: kStepDeadlineMs, env: { ...process.env, SLUICE: sluiceBinary() },
      });
      assert.equal(result.status, 0, `NOTES commands failed:\n${script}\n${result.stdout}\n${result.stderr}`);
    }],

    ['on SIGTERM the pod drains and stops within its termination grace', async () => {
      // With `# drain: FUNCTION PAYLOAD`, an invocation runs while the pod
      // drains: readiness must fail (the pod leaves the Service) while
      // liveness passes (the kubelet does not restart a draining server).
      const drain = expectations.drain?.[0]?.split(' ');
      let id;
      if (drain) {
        const queued = cli(['invoke', drain[0], '--data', drain[1], '--async']);
        assert.equal(queued.status, 0, queued.stderr);
        id = queued.stdout.trim();
        await poll(`invocation ${id} running`, kStepDeadlineMs, async () => {
          const got = cli(['-o', 'json', 'get', id]);
          return got.status === 0 && JSON.parse(got.stdout).state === 'RUNNING';
        });
      }
      const graceMs = state.podSpec.terminationGracePeriodSeconds * 1000;
      const started = Date.now();
      state.child.kill('SIGTERM');
      if (drain) {
        await poll('readiness failing while draining', kStepDeadlineMs, async () => {
          try {
            await probeOnce(state.container.readinessProbe);
          } catch (error) {
            return true;
          }
          return false;
        });
        assert.equal(await probeOnce(state.container.livenessProbe), true);
        assert.equal(state.child.exitCode, null, 'still draining after the probes');
      }
      const timer = new Promise((resolve) => {
        const t = setTimeout(() => resolve('timeout'), Math.min(graceMs, kStepDeadlineMs));
        t.unref();
      });
      const outcome = await Promise.race([state.exited, timer]);
      assert.notEqual(outcome, 'timeout', `still running ${Date.now() - started} ms after SIGTERM`);
      assert.deepEqual(outcome, { code: 0, signal: null }, `exit after SIGTERM:\n${state.log}`);
      if (drain) {
        // The drain waited for the running invocation: by the server's log,
        // from the signal to "drained" took a good part of its run time.
        const at = (text) => {
          const line = state.log.split('\n').find((l) => l.includes(text));
          assert.ok(line, `the server's log has no "${text}"`);
          return Date.parse(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/.exec(line)[0]);
        };
        const drainedMs = at('drained') - at('received signal');
        assert.ok(drainedMs >= Number(drain[1]) / 2,
                  `drained ${drainedMs} ms after SIGTERM: the running ${drain[0]} cannot have finished`);
      }
    }],
  ]);
}

main().catch((error) => {
  console.log(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
