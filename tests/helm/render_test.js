// helm_render: `helm template` with the defaults and with every value set of
// values/ renders objects that
//   - each validate against the Kubernetes API schema of their kind
//     (kubernetes-models; the ServiceMonitor against the Prometheus
//     Operator's CRD schema), so nothing the API server would refuse;
//   - are the kinds the value set's `# expect-kinds:` line names;
//   - hold together: selectors select the pod, Service, probe and policy
//     ports name container ports, the listen flags use those ports, every
//     volume mount has a volume, the data directory and /tmp are writable
//     volumes; --config names the ConfigMap's config.yaml, mounted, and
//     the settings (the file's, flags winning) listen on the container
//     ports, put the data directory on its volume and list manifests of
//     the ConfigMap volume, whose triggers have one kind each;
//   - keep the chart's promises: the recommended labels on every object, one
//     replica, the hardened security context, resource requests, gRPC or HTTP
//     probes, a termination grace longer than the drain.
// Also: a changed setting, function or trigger changes the pod's
// checksum/config annotation (the pod rolls); a long release name keeps
// object names within Kubernetes' limits, and NOTES.txt shows how to invoke
// through the Service.
//
//   node render_test.js --tools DIR --chart DIR --values-dir DIR
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  Tools, parseArgs, byKind, oneOfKind, sluiceContainer, serveSettings, directives, runChecks,
  parseDurationSeconds,
} = require('./lib.js');

const args = parseArgs(process.argv.slice(2), ['tools', 'chart', 'values-dir']);
const namespace = 'sluice-test';

const kRecommendedLabels = [
  'app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version',
  'app.kubernetes.io/component', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by',
  'helm.sh/chart',
];

// Selects reports whether matchLabels `selector` selects an object with
// `labels`.
function selects(selector, labels) {
  return Object.keys(selector).length > 0 &&
         Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

// ContainerPort resolves a probe's or Service's port (a number or a name) to
// the container port it means; fails when the container has no such port.
function containerPort(container, port, what) {
  const found = container.ports.find((p) => p.name === port || p.containerPort === port);
  assert.ok(found, `${what}: port ${port} is not a port of the sluice container`);
  return found;
}

// ListenPort returns the port of a HOST:PORT listen address.
function listenPort(address, flag) {
  assert.ok(address, `the container has no ${flag} flag`);
  const match = /:(\d+)$/.exec(address);
  assert.ok(match, `${flag}=${address} has no port`);
  return Number(match[1]);
}

// CheckObjects asserts the chart's invariants on one rendered value set.
function checkObjects(tools, objects, expectedKinds) {
  for (const object of objects) tools.validate(object);

  const kinds = objects.map((o) => o.kind).sort();
  if (expectedKinds) assert.deepEqual(kinds, expectedKinds, 'the rendered kinds');

  for (const object of objects) {
    for (const label of kRecommendedLabels) {
      assert.ok(object.metadata.labels?.[label],
                `${object.kind} ${object.metadata.name} lacks the label ${label}`);
    }
    assert.equal(object.metadata.labels['app.kubernetes.io/managed-by'], 'Helm');
  }

  const { statefulSet, container } = sluiceContainer(objects);
  const pod = statefulSet.spec.template;
  const podSpec = pod.spec;
  for (const label of kRecommendedLabels) {
    assert.ok(pod.metadata.labels?.[label], `the pod template lacks the label ${label}`);
  }
  assert.equal(statefulSet.spec.replicas, 1, 'one replica: the store belongs to one server');
  assert.ok(selects(statefulSet.spec.selector.matchLabels, pod.metadata.labels),
            'the StatefulSet selector selects its pod template');

  // Security.
  const podSecurity = podSpec.securityContext ?? {};
  const security = container.securityContext ?? {};
  assert.equal(podSecurity.runAsNonRoot, true, 'pod runAsNonRoot');
  assert.equal(security.runAsNonRoot, true, 'container runAsNonRoot');
  assert.equal(security.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
  assert.equal(security.allowPrivilegeEscalation, false, 'allowPrivilegeEscalation');
  assert.ok(security.capabilities?.drop?.includes('ALL'), 'capabilities drop ALL');
  assert.ok(!security.capabilities?.add?.length, 'no capability added');
  assert.notEqual(security.privileged, true, 'not privileged');
  assert.equal((security.seccompProfile ?? podSecurity.seccompProfile)?.type, 'RuntimeDefault',
               'seccompProfile RuntimeDefault');
  for (const uid of [security.runAsUser, podSecurity.runAsUser]) {
    if (uid !== undefined) assert.notEqual(uid, 0, 'runAsUser is not root');
  }

  // Resources.
  assert.ok(container.resources?.requests?.cpu, 'a CPU request');
  assert.ok(container.resources?.requests?.memory, 'a memory request');

  // What sluice serve runs with: config.yaml, flags winning.
  const settings = serveSettings(tools, objects);
  for (const name of ['listen', 'metrics-listen', 'data-dir', 'shutdown-grace']) {
    assert.ok(settings.file[name], `config.yaml sets ${name}`);
  }

  // The drain: Kubernetes must not kill the server before --shutdown-grace ends.
  const grace = parseDurationSeconds(settings.get('shutdown-grace'));
  assert.ok(podSpec.terminationGracePeriodSeconds > grace,
            `terminationGracePeriodSeconds ${podSpec.terminationGracePeriodSeconds} ` +
            `is not longer than --shutdown-grace (${grace}s)`);

  // sluice serve reads "--flag=" as a flag without its value, which then
  // takes the next argument: an empty value must be an argument of its own.
  for (const arg of container.args) {
    assert.doesNotMatch(arg, /^--[^=]+=$/, `the argument ${arg} takes the next one as its value`);
  }

  // Ports: the listen settings listen on the container ports.
  const grpcPort = containerPort(container, 'grpc', 'the gRPC port');
  const metricsPort = containerPort(container, 'metrics', 'the metrics port');
  assert.equal(listenPort(settings.get('listen'), 'listen'), grpcPort.containerPort);
  assert.equal(listenPort(settings.get('metrics-listen'), 'metrics-listen'), metricsPort.containerPort);
  const scrapePort = pod.metadata.annotations?.['prometheus.io/port'];
  if (scrapePort !== undefined) assert.equal(Number(scrapePort), metricsPort.containerPort);

  // Probes: gRPC health or HTTP, on ports of the container.
  for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const probe = container[kind];
    assert.ok(probe, `the container has no ${kind}`);
    if (probe.grpc) {
      assert.equal(containerPort(container, probe.grpc.port, kind).name, 'grpc',
                   `${kind} calls gRPC health on the gRPC port`);
    } else if (probe.httpGet) {
      containerPort(container, probe.httpGet.port, kind);
      assert.match(probe.httpGet.path, /^\//, `${kind} path`);
    } else {
      assert.fail(`${kind} is neither a gRPC nor an HTTP probe: ${JSON.stringify(probe)}`);
    }
  }

  // Volumes: every mount has a volume; data and /tmp are writable ones.
  const claims = (statefulSet.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name);
  const volumes = podSpec.volumes ?? [];
  const volumeNames = volumes.map((v) => v.name);
  for (const name of [...volumeNames, ...claims]) {
    assert.equal([...volumeNames, ...claims].filter((n) => n === name).length, 1,
                 `volume ${name} is defined once`);
  }
  for (const mount of container.volumeMounts) {
    assert.ok(volumeNames.includes(mount.name) || claims.includes(mount.name),
              `the mount ${mount.mountPath} has no volume ${mount.name}`);
  }
  const mountAt = (dir, what) => {
    const mount = container.volumeMounts.find((m) => m.mountPath === dir);
    assert.ok(mount, `${what} (${dir}) is not a mounted volume: the root filesystem is read-only`);
    return mount;
  };
  const tmpDir = container.env.find((e) => e.name === 'TMPDIR')?.value ?? '/tmp';
  for (const [dir, what] of [[settings.get('data-dir'), 'the data directory'],
                             [tmpDir, 'TMPDIR']]) {
    const mount = mountAt(dir, what);
    assert.notEqual(mount.readOnly, true, `${what} is writable`);
    const volume = volumes.find((v) => v.name === mount.name);
    assert.ok(claims.includes(mount.name) || volume?.emptyDir,
              `${what} is an emptyDir or a claim, not ${JSON.stringify(volume)}`);
  }

  // The Service: gRPC and HTTP ports with appProtocol, to the container's.
  const service = oneOfKind(objects, 'Service');
  assert.equal(statefulSet.spec.serviceName, service.metadata.name, 'the governing Service');
  assert.ok(selects(service.spec.selector, pod.metadata.labels), 'the Service selects the pod');
  for (const name of ['grpc', 'metrics']) {
    const port = service.spec.ports.find((p) => p.name === name);
    assert.ok(port, `the Service has no ${name} port`);
    assert.ok(port.appProtocol, `the Service's ${name} port has no appProtocol`);
    assert.equal(containerPort(container, port.targetPort, `Service port ${name}`).name, name);
  }

  // config.yaml and the manifests from the ConfigMap, mounted read-only.
  const configMap = settings.configMap;
  const configVolume = volumes.find((v) => v.configMap?.name === configMap.metadata.name);
  assert.ok(configVolume, 'the ConfigMap is a volume of the pod');
  const mount = container.volumeMounts.find((m) => m.name === configVolume.name);
  assert.ok(mount, 'the ConfigMap volume is mounted');
  assert.equal(mount.readOnly, true, 'the ConfigMap is mounted read-only');
  const items = configVolume.configMap.items ?? [];
  for (const item of items) {
    assert.ok(item.key in configMap.data, `the volume's item ${item.key} is in the ConfigMap`);
  }
  const mounted = new Map(items.map((i) => [path.posix.join(mount.mountPath, i.path), i.key]));
  assert.ok(mounted.has(settings.configPath), `--config=${settings.configPath} is a mounted item`);
  const functionNames = [];
  for (const manifestPath of settings.all('manifest')) {
    assert.ok(mounted.has(manifestPath), `manifest ${manifestPath} is not a mounted item`);
    const manifest = tools.yaml.parse(configMap.data[mounted.get(manifestPath)]);
    assert.ok(manifest.functions?.length > 0 || manifest.triggers?.length > 0,
              `${manifestPath} lists functions or triggers`);
    for (const fn of manifest.functions ?? []) {
      functionNames.push(fn.name);
      if (path.posix.isAbsolute(fn.artifact)) continue;
      const artifact = path.posix.join(path.posix.dirname(manifestPath), fn.artifact);
      assert.ok(mounted.has(artifact),
                `function ${fn.name}: artifact ${fn.artifact} is not a file of the ConfigMap volume`);
    }
    const triggerNames = (manifest.triggers ?? []).map((t) => t.name);
    assert.equal(new Set(triggerNames).size, triggerNames.length, `trigger names are unique: ${triggerNames}`);
    for (const trigger of manifest.triggers ?? []) {
      const kinds = [trigger.topic !== undefined || trigger.type !== undefined,
                     trigger.schedule !== undefined, trigger.route !== undefined];
      assert.equal(kinds.filter(Boolean).length, 1, `trigger ${trigger.name} has one kind`);
    }
  }
  assert.equal(new Set(functionNames).size, functionNames.length, `function names are unique: ${functionNames}`);

  // The optional objects select what they mean to.
  for (const monitor of byKind(objects, 'ServiceMonitor')) {
    assert.ok(selects(monitor.spec.selector.matchLabels, service.metadata.labels),
              'the ServiceMonitor selects the Service');
    assert.ok(monitor.spec.namespaceSelector.matchNames.includes(namespace));
    for (const endpoint of monitor.spec.endpoints) {
      assert.ok(service.spec.ports.some((p) => p.name === endpoint.port),
                `ServiceMonitor endpoint port ${endpoint.port} is a Service port`);
    }
  }
  for (const budget of byKind(objects, 'PodDisruptionBudget')) {
    assert.ok(selects(budget.spec.selector.matchLabels, pod.metadata.labels),
              'the PodDisruptionBudget selects the pod');
  }
  for (const policy of byKind(objects, 'NetworkPolicy')) {
    assert.ok(selects(policy.spec.podSelector.matchLabels, pod.metadata.labels),
              'the NetworkPolicy selects the pod');
    const allowed = policy.spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port));
    for (const name of ['grpc', 'metrics']) {
      assert.ok(allowed.includes(name), `the NetworkPolicy lets ${name} in`);
      containerPort(container, name, 'NetworkPolicy');
    }
  }
}

const sets = [['the defaults', undefined]];
for (const file of fs.readdirSync(args['values-dir']).sort()) {
  if (file.endsWith('.yaml')) sets.push([file, path.join(args['values-dir'], file)]);
}

const checks = [];
for (const [name, file] of sets) {
  checks.push([`helm template, ${name}: valid objects that hold together`, () => {
    const tools = new Tools(args.tools);
    const objects = tools.render(args.chart, { namespace, valuesFiles: file ? [file] : [] });
    const expected = file ? directives(file)['expect-kinds']?.[0]?.split(/\s+/).sort() : undefined;
    if (file) assert.ok(expected, `${name} has no "# expect-kinds:" line`);
    checkObjects(tools, objects, expected);
  }]);
}

checks.push(['the checks fail on a broken object (kubernetes-models validates)', () => {
  const tools = new Tools(args.tools);
  const objects = tools.render(args.chart, { namespace });
  const { container } = sluiceContainer(objects);
  container.ports[0].containerPort = 'fifty';
  assert.throws(() => checkObjects(tools, objects), /containerPort/);
}]);

checks.push(['a changed setting, function or trigger rolls the pod (checksum/config)', () => {
  const tools = new Tools(args.tools);
  const checksum = (set) => {
    const { statefulSet } = sluiceContainer(tools.render(args.chart, { namespace, set }));
    const value = statefulSet.spec.template.metadata.annotations?.['checksum/config'];
    assert.match(value ?? '', /^[0-9a-f]{64}$/, 'the pod has a checksum/config annotation');
    return value;
  };
  const base = checksum([]);
  assert.equal(checksum([]), base, 'the same values, the same checksum');
  for (const set of ['server.eventDedupeWindow=1h', 'server.callbackAllow[0]=*.svc.cluster.local:*',
                     'server.logLevel=debug', 'exampleFunctions=false',
                     'triggers[0].name=tick,triggers[0].function=echo,triggers[0].schedule=* * * * *']) {
    assert.notEqual(checksum([set]), base, `--set ${set} changes checksum/config`);
  }
}]);

checks.push(['a long release name keeps names within limits', () => {
  const tools = new Tools(args.tools);
  // Helm's longest release name (53 characters).
  const release = 'a-very-long-release-name-that-goes-on-and-on-and-on-x';
  assert.equal(release.length, 53);
  const objects = tools.render(args.chart, { release, namespace });
  for (const object of objects) {
    assert.ok(object.metadata.name.length <= 52, `${object.kind} name ${object.metadata.name}`);
    for (const [key, value] of Object.entries(object.metadata.labels)) {
      assert.ok(String(value).length <= 63, `label ${key}=${value}`);
    }
  }
  const { statefulSet } = sluiceContainer(objects);
  // The pod's controller-revision-hash label is NAME-<10 characters>, and
  // its claim data-NAME-0 is a name too.
  assert.ok(`${statefulSet.metadata.name}-0123456789`.length <= 63);
  assert.ok(`data-${statefulSet.metadata.name}-0`.length <= 63);
  checkObjects(tools, objects);
}]);

checks.push(['NOTES.txt shows how to reach and invoke the server', () => {
  const tools = new Tools(args.tools);
  const result = tools.runHelm(['install', 'demo', args.chart, '--dry-run=client',
                                '--namespace', 'apps']);
  assert.equal(result.status, 0, result.stderr);
  const notes = result.stdout.slice(result.stdout.indexOf('NOTES:'));
  assert.ok(notes.length > 'NOTES:'.length, 'no NOTES in the install output');
  assert.match(notes, /kubectl -n apps port-forward svc\/demo-sluice 50051:50051/);
  assert.match(notes, /sluice --server 127\.0\.0\.1:50051 invoke echo --data hello/);
  assert.match(notes, /demo-sluice\.apps\.svc:50051/);
  assert.match(notes, /Functions deployed at start-up from the chart's ConfigMap: echo wordcount/);
}]);

runChecks(checks);
