using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CcxProxy.Cli;
using CcxProxy.Hosting;
using CcxProxy.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace CcxProxy.Tests.Deploy;

/// <summary>
/// The Kubernetes manifests in <c>deploy/</c> are clean YAML (<c>yamllint -s</c>), valid against the Kubernetes
/// and Gateway API schemas (<c>tools/k8s-validate</c>), and agree with the gateway they deploy: its port, its
/// probes, its channel folder and parser, the settings it knows, its secrets, its shutdown timing, its body
/// limit and its user. yamllint and node are installed by tools/install-test-deps.sh; when one is missing the
/// tests fail saying so, they never skip.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed partial class KubernetesManifestTests
{
    private const string InstallHint = "tools/install-test-deps.sh installs it (test.sh runs it first)";
    private const string NginxPrefix = "nginx.ingress.kubernetes.io/";

    // A non-streamed answer may take this long before its first byte: the channels' default
    // timeouts.responseHeaders (docs/channels.md). Whatever sits in front must wait at least as long.
    private const int UpstreamResponseHeadersSeconds = 600;

    // The gateway allows its host DelaySeconds + DrainSeconds + 5 s to stop (GatewayApp's HostOptions.ShutdownTimeout).
    private const int ExitMarginSeconds = 5;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static string Validator => Path.Combine(RepoPaths.Root, "tools", "k8s-validate");

    private static KubernetesObject Deployment => KubernetesManifests.Single("Deployment", "ccx-proxy");

    private static YamlNode PodSpec => Deployment.Root.At("spec.template.spec")!;

    private static YamlNode Container => ContainerOf(Deployment, "ccx-proxy");

    private static KubernetesObject ChannelsConfigMap => KubernetesManifests.Single("ConfigMap", "ccx-proxy-channels");

    private static KubernetesObject Secret => KubernetesManifests.Single("Secret", "ccx-proxy-secrets");

    private static KubernetesObject Service => KubernetesManifests.Single("Service", "ccx-proxy");

    /// <summary>The gateway container's environment, by name.</summary>
    private static Dictionary<string, YamlNode> Env =>
        Container.Items("env").ToDictionary(entry => entry.Str("name")!, StringComparer.Ordinal);

    /// <summary>The ConfigMap's files: key → content.</summary>
    private static IReadOnlyDictionary<string, string> ChannelFolderFiles => ChannelsConfigMap.Root.Entries("data");

    /// <summary>Every <c>env:NAME</c> the channel files of the ConfigMap read.</summary>
    private static IReadOnlySet<string> ChannelEnvReferences =>
        ChannelFolderFiles.Values.SelectMany(text => EnvReference().Matches(text).Select(m => m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The Secret's keys and values (<c>stringData</c>, and <c>data</c> decoded).</summary>
    private static Dictionary<string, string> SecretValues
    {
        get
        {
            var values = Secret.Root.Entries("data").ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(Convert.FromBase64String(p.Value)), StringComparer.Ordinal);
            foreach (var (key, value) in Secret.Root.Entries("stringData"))
            {
                values[key] = value;
            }

            return values;
        }
    }

    [GeneratedRegex("\"env:([A-Za-z_][A-Za-z0-9_]*)\"")]
    private static partial Regex EnvReference();

    [GeneratedRegex(@"^ENV\s+ASPNETCORE_URLS=https?://[^\s:/]+:(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex DockerfileUrlsPort();

    [GeneratedRegex(@"^EXPOSE\s+(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex DockerfileExpose();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Backticked();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentName();

    [GeneratedRegex("^([0-9]+)([kKmMgG]?)$")]
    private static partial Regex NginxSize();

    [GeneratedRegex("^(?:([0-9]{1,5})(h|ms|m|s)){1,4}$")]
    private static partial Regex GatewayApiDuration();

    [Test]
    public void Deploy_HoldsEveryKindOfResource()
    {
        var kinds = KubernetesManifests.Objects.Select(o => o.Kind).ToHashSet();

        Assert.That(kinds, Is.SupersetOf(new[]
        {
            "Kustomization", "Namespace", "Deployment", "Service", "Ingress", "HTTPRoute", "ConfigMap", "Secret",
            "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
        }), string.Join("\n", KubernetesManifests.Objects));
    }

    [Test]
    public async Task EveryYamlFile_PassesYamllintStrict()
    {
        Assert.That(KubernetesManifests.Files, Is.Not.Empty);

        var (code, output) = await RunAsync("yamllint", ["-s", "-f", "parsable", "-c", ".yamllint", .. KubernetesManifests.Files]);

        Assert.That(code, Is.Zero, $"yamllint -s -c .yamllint (exit {code}):\n{output}");
    }

    [Test]
    public async Task EveryManifest_PassesTheSchemaValidator()
    {
        var (code, output) = await RunValidatorAsync(KubernetesManifests.Files);

        Assert.That(code, Is.Zero, $"tools/k8s-validate (exit {code}):\n{output}");
        foreach (var o in KubernetesManifests.Objects)
        {
            Assert.That(output, Does.Contain($"ok {o.File} {o.Kind}/{(o.Name.Length > 0 ? o.Name : "-")}"), $"{o} was not validated:\n{output}");
        }
    }

    [Test]
    public async Task SchemaValidator_Refuses_UnknownFieldsWrongTypesAndUnknownKinds()
    {
        var folder = Directory.CreateTempSubdirectory("ccx-k8s-validate-").FullName;
        try
        {
            var invalid = Path.Combine(folder, "invalid.yaml");
            await File.WriteAllTextAsync(invalid, """
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: typo
                spec:
                  selector:
                    matchLabels: {app: x}
                  template:
                    metadata:
                      labels: {app: x}
                    spec:
                      containers:
                        - name: x
                          image: x
                          readinesProbe: {httpGet: {path: /readyz, port: 3000}}
                          ports:
                            - containerPort: "3000"
                """);
            var unknown = Path.Combine(folder, "unknown.yaml");
            await File.WriteAllTextAsync(unknown, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n");

            var (invalidCode, invalidOutput) = await RunValidatorAsync([invalid]);
            var (unknownCode, unknownOutput) = await RunValidatorAsync([unknown]);

            Assert.That(invalidCode, Is.EqualTo(1), invalidOutput);
            Assert.That(invalidOutput, Does.Contain($"error {invalid} Deployment/typo: spec.template.spec.containers[0].readinesProbe: unknown field"));
            Assert.That(invalidOutput, Does.Contain($"error {invalid} Deployment/typo: schema: /spec/template/spec/containers/0/ports/0/containerPort: must be integer"));
            Assert.That(unknownCode, Is.EqualTo(2), unknownOutput);
            Assert.That(unknownOutput, Does.Contain($"error {unknown} Widget/w: unknown kind Widget"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestCase("deploy/kubernetes", "httproute.yaml")]
    [TestCase("deploy/kubernetes/redis", null)]
    public void Kustomization_ListsEveryManifestBesideIt(string folder, string? leftOut)
    {
        var kustomization = KubernetesManifests.Objects.Single(o => o.File == $"{folder}/kustomization.yaml");
        var namespaceObject = KubernetesManifests.Objects.Single(o => o.Kind == "Namespace");

        var listed = kustomization.Root.Items("resources").OfType<YamlScalarNode>().Select(n => n.Value!).ToList();
        var beside = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, folder), "*.yaml")
            .Select(Path.GetFileName)
            .Where(name => name != "kustomization.yaml" && name != leftOut)
            .ToList();

        Assert.That(listed, Is.EquivalentTo(beside), $"{kustomization.File} resources");
        Assert.That(kustomization.Root.Str("namespace"), Is.EqualTo(namespaceObject.Name));
        if (leftOut is not null)
        {
            var separate = KubernetesManifests.Objects.Single(o => o.File == $"{folder}/{leftOut}");
            Assert.That(separate.Root.At("metadata").Str("namespace"), Is.EqualTo(namespaceObject.Name), $"{separate} is applied on its own");
        }
    }

    [Test]
    public void ContainerPort_IsTheImagesPort_AndServiceProbesAndIngressUseIt()
    {
        var dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, "Dockerfile"));
        var urls = DockerfileUrlsPort().Match(dockerfile);
        var expose = DockerfileExpose().Match(dockerfile);
        Assert.That(urls.Success && expose.Success, Is.True, "the Dockerfile sets ENV ASPNETCORE_URLS=http://+:PORT and EXPOSE PORT");
        var imagePort = urls.Groups[1].Value;
        Assert.That(expose.Groups[1].Value, Is.EqualTo(imagePort), "EXPOSE and ASPNETCORE_URLS in the Dockerfile");

        var http = Container.Items("ports").Single(p => p.Str("name") == "http");
        Assert.That(http.Str("containerPort"), Is.EqualTo(imagePort));
        Assert.That(Env.ContainsKey("ASPNETCORE_URLS"), Is.False, "the image sets ASPNETCORE_URLS; the Deployment should not move the port");

        var servicePort = Service.Root.Items("spec.ports").Single();
        Assert.That(servicePort.Str("targetPort"), Is.AnyOf("http", imagePort));
        foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" }.Where(p => Container.Get(p) is not null))
        {
            Assert.That(Container.At($"{probe}.httpGet").Str("port"), Is.AnyOf("http", imagePort), probe);
        }

        var backend = KubernetesManifests.Single("Ingress", "ccx-proxy").Root.Items("spec.rules").Single().Items("http.paths").Single().At("backend.service");
        Assert.That(backend.Str("name"), Is.EqualTo(Service.Name));
        Assert.That(backend.At("port").Str("name") ?? backend.At("port").Str("number"), Is.AnyOf(servicePort.Str("name"), servicePort.Str("port")));
    }

    [Test]
    public async Task Probes_AreLivezAndReadyz_AndAnswer200_OnAGatewayServingTheConfigMap()
    {
        Assert.That(Container.At("livenessProbe.httpGet").Str("path"), Is.EqualTo("/livez"));
        Assert.That(Container.At("readinessProbe.httpGet").Str("path"), Is.EqualTo("/readyz"));
        var paths = new[] { "startupProbe", "livenessProbe", "readinessProbe" }
            .Select(p => Container.At($"{p}.httpGet").Str("path"))
            .OfType<string>()
            .Distinct()
            .ToList();

        var channelFiles = ChannelFolderFiles.Keys.Count(name => name != "groups.json");
        await using var gateway = await TestGateway.StartAsync(
            ChannelFolderFiles,
            ChannelEnvReferences.ToDictionary(name => name, name => (string?)("dummy-" + name)));

        foreach (var path in paths)
        {
            var response = await gateway.Client.GetAsync(new Uri(path, UriKind.Relative)).WaitAsync(Timeout);
            var text = await response.Content.ReadAsStringAsync().WaitAsync(Timeout);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"GET {path}: {text}");
            if (path == "/readyz")
            {
                var channels = JsonNode.Parse(text)!["channels"]!;
                Assert.That(channels["count"]!.GetValue<int>(), Is.EqualTo(channelFiles), text);
                Assert.That(channels["rejected"]!.GetValue<int>(), Is.Zero, text);
            }
        }
    }

    [Test]
    public void ChannelConfigMap_IsMountedWhole_AtChannelsDirectory()
    {
        var volume = PodSpec.Items("volumes").Single(v => v.At("configMap").Str("name") == ChannelsConfigMap.Name);
        var mount = Container.Items("volumeMounts").Single(m => m.Str("name") == volume.Str("name"));

        Assert.That(Env["Channels__Directory"].Str("value"), Is.EqualTo(mount.Str("mountPath")));
        // A subPath mount is a copy made at start: the kubelet's ..data symlink swap never reaches it.
        Assert.That(mount.Get("subPath"), Is.Null, "subPath mounts never see ConfigMap updates");
        Assert.That(mount.Get("subPathExpr"), Is.Null, "subPathExpr mounts never see ConfigMap updates");
        Assert.That(volume.At("configMap.items"), Is.Null, "items would leave new keys of the ConfigMap out of the folder");
        Assert.That(mount.Str("readOnly"), Is.EqualTo("true"));
    }

    [Test]
    public async Task ChannelConfigMap_EveryFile_PassesTheValidateVerb_WithTheDeploymentsEnvironment()
    {
        var files = ChannelFolderFiles;
        Assert.That(files.Keys, Does.Contain("groups.json"));
        Assert.That(files.Keys.Count(), Is.GreaterThan(1));
        Assert.That(files.Keys, Has.All.Match(@"^[A-Za-z0-9_-][A-Za-z0-9._-]*\.json$"), "the gateway reads only *.json files whose name does not start with '.'");

        var folder = Directory.CreateTempSubdirectory("ccx-k8s-channels-").FullName;
        var workingDirectory = Directory.CreateTempSubdirectory("ccx-k8s-cwd-").FullName;
        try
        {
            foreach (var (name, text) in files)
            {
                await File.WriteAllTextAsync(Path.Combine(folder, name), text);
            }

            // env:NAME resolves only where the Deployment sets NAME: a channel reading a variable the pod lacks is refused.
            var provided = Env.Keys.ToHashSet(StringComparer.Ordinal);
            using var output = new StringWriter();
            using var error = new StringWriter();
            var context = new CliContext
            {
                Out = output,
                Error = error,
                WorkingDirectory = workingDirectory,
                Environment = name => provided.Contains(name) ? "dummy-" + name : null,
            };

            var code = await CliApp.RunAsync(["validate", "--channels", folder], context).WaitAsync(Timeout);

            Assert.That(code, Is.Zero, $"ccx-proxy validate:\n{output}{error}");
            Assert.That(output.ToString(), Does.Contain($"{files.Count} file(s), all valid"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    [Test]
    public void ChannelEnvReferences_ComeFromTheSecret_AndEverySecretReferenceExists()
    {
        var secret = SecretValues;
        var env = Env;
        Assert.That(ChannelEnvReferences, Is.Not.Empty);

        foreach (var name in ChannelEnvReferences)
        {
            Assert.That(env.TryGetValue(name, out var entry), Is.True, $"a channel file reads env:{name}; the Deployment does not set {name}");
            var reference = entry!.At("valueFrom.secretKeyRef");
            Assert.That(reference, Is.Not.Null, $"{name} is an upstream key: it must come from the Secret");
            // The gateway refuses a channel whose env: variable is empty, so even the placeholder must not be.
            Assert.That(secret.GetValueOrDefault(reference.Str("key")!), Is.Not.Empty, $"the Secret's {reference.Str("key")} (read by env:{name})");
        }

        foreach (var name in new[] { "PROXY_ACCESS_KEY", "Admin__AccessKey", "Redis__Configuration" })
        {
            Assert.That(env.TryGetValue(name, out var entry) && entry.At("valueFrom.secretKeyRef") is not null, Is.True, $"{name} must come from the Secret");
        }

        foreach (var (name, entry) in env)
        {
            if (entry.At("valueFrom.secretKeyRef") is { } reference)
            {
                Assert.That(reference.Str("name"), Is.EqualTo(Secret.Name), name);
                Assert.That(secret.Keys, Does.Contain(reference.Str("key")), $"{name} reads a key the Secret does not hold");
            }
        }
    }

    [Test]
    public void ContainerEnvNames_AreSettingsTheGatewayKnows()
    {
        var (names, prefixes) = DocumentedSettings();
        Assert.That(names, Does.Contain("PROXY_ACCESS_KEY").And.Contain("Shutdown__DrainSeconds").And.Contain("Channels__Directory"), "the settings table of docs/configuration.md was read");
        names.UnionWith(ChannelEnvReferences);
        // Implemented in src/Proxy/Hosting/TrustedProxies.cs; taken from the code so a rename there fails here.
        names.Add(TrustedProxies.Setting.Replace(":", "__", StringComparison.Ordinal));
        prefixes.AddRange(["OTEL_", "ASPNETCORE_", "DOTNET_"]);

        var unknown = Env.Keys.Where(name => !names.Contains(name) && !prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))).ToList();

        Assert.That(unknown, Is.Empty, "env names that are no setting of docs/configuration.md, no env: name of a channel file and no OTEL_/ASPNETCORE_/DOTNET_ variable (a typo?)");
    }

    [Test]
    public void TerminationGracePeriod_OutlastsPreStopDelayAndDrain()
    {
        var appSettings = AppSettings();
        var preStop = Seconds(Container.At("lifecycle.preStop.sleep").Str("seconds"), "the preStop hook's native sleep action");
        var delay = Seconds(Env.GetValueOrDefault("Shutdown__DelaySeconds")?.Str("value") ?? appSettings["Shutdown"]!["DelaySeconds"]!.ToString(), "Shutdown__DelaySeconds");
        var drain = Seconds(Env.GetValueOrDefault("Shutdown__DrainSeconds")?.Str("value") ?? appSettings["Shutdown"]!["DrainSeconds"]!.ToString(), "Shutdown__DrainSeconds");
        var grace = Seconds(PodSpec.Str("terminationGracePeriodSeconds"), "terminationGracePeriodSeconds");

        Assert.That(grace, Is.GreaterThan(preStop + delay + drain + ExitMarginSeconds),
            $"terminationGracePeriodSeconds {grace} must exceed preStop {preStop} + Shutdown:DelaySeconds {delay} + Shutdown:DrainSeconds {drain} + {ExitMarginSeconds} s to exit");
    }

    [Test]
    public void Ingress_StreamsUnbuffered_WaitsLongEnough_AndAcceptsTheGatewaysLargestBody()
    {
        var ingress = KubernetesManifests.Single("Ingress", "ccx-proxy");
        var annotations = ingress.Root.Entries("metadata.annotations");
        string Annotation(string name)
        {
            Assert.That(annotations, Does.ContainKey(NginxPrefix + name));
            return annotations[NginxPrefix + name];
        }

        Assert.That(Annotation("proxy-buffering"), Is.EqualTo("off"), "SSE events must reach the client as they are written");
        Assert.That(Annotation("proxy-request-buffering"), Is.EqualTo("off"));
        Assert.That(Annotation("proxy-http-version"), Is.EqualTo("1.1"));
        Assert.That(int.Parse(Annotation("proxy-read-timeout"), CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(UpstreamResponseHeadersSeconds));
        Assert.That(int.Parse(Annotation("proxy-send-timeout"), CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(UpstreamResponseHeadersSeconds));

        var maxBody = long.Parse(
            Env.GetValueOrDefault("Proxy__MaxRequestBodyBytes")?.Str("value") ?? AppSettings()["Proxy"]!["MaxRequestBodyBytes"]!.ToString(),
            CultureInfo.InvariantCulture);
        Assert.That(NginxBytes(Annotation("proxy-body-size")), Is.GreaterThanOrEqualTo(maxBody),
            "nginx must let through every body the gateway accepts (Proxy:MaxRequestBodyBytes), so the gateway answers oversize bodies in the client's protocol");
        Assert.That(ingress.Root.Items("spec.tls"), Is.Not.Empty);
    }

    [Test]
    public void HttpRoute_SendsToTheService_WithoutCuttingLongRequests()
    {
        var route = KubernetesManifests.Single("HTTPRoute", "ccx-proxy");
        var servicePort = Service.Root.Items("spec.ports").Single().Str("port");

        foreach (var rule in route.Root.Items("spec.rules"))
        {
            var backend = rule.Items("backendRefs").Single();
            Assert.That(backend.Str("name"), Is.EqualTo(Service.Name));
            Assert.That(backend.Str("port"), Is.EqualTo(servicePort));
            var request = rule.At("timeouts").Str("request");
            Assert.That(request, Is.Not.Null, "an explicit request timeout: implementations' defaults (often 15 s) would cut streams");
            var duration = GatewayApiSeconds(request!);
            Assert.That(duration == 0 || duration >= UpstreamResponseHeadersSeconds, Is.True, $"timeouts.request {request}: 0s (none) or at least {UpstreamResponseHeadersSeconds} s");
        }
    }

    [TestCase("ccx-proxy", "ccx-proxy")]
    [TestCase("ccx-proxy-redis", "redis")]
    public void Containers_RunLockedDown(string deployment, string container)
    {
        var workload = KubernetesManifests.Single("Deployment", deployment);
        var pod = workload.Root.At("spec.template.spec.securityContext");
        var security = ContainerOf(workload, container).Get("securityContext");

        Assert.That(security.Str("readOnlyRootFilesystem"), Is.EqualTo("true"));
        Assert.That(security.Str("runAsNonRoot") ?? pod.Str("runAsNonRoot"), Is.EqualTo("true"));
        Assert.That(security.Str("allowPrivilegeEscalation"), Is.EqualTo("false"));
        Assert.That(security.Items("capabilities.drop").OfType<YamlScalarNode>().Select(n => n.Value), Does.Contain("ALL"));
        Assert.That((security.Get("seccompProfile") ?? pod.Get("seccompProfile")).Str("type"), Is.EqualTo("RuntimeDefault"));
        Assert.That(workload.Root.At("spec.template.spec.automountServiceAccountToken") is YamlScalarNode { Value: "false" }, Is.True, "no API token in the pod");
    }

    [Test]
    public void GatewayContainer_RunsAsTheImagesUser_WithAWritableTmp()
    {
        var security = Container.Get("securityContext");
        var pod = PodSpec.Get("securityContext");
        // The aspnet base image's unprivileged user, $APP_UID (the Dockerfile's USER).
        Assert.That(security.Str("runAsUser") ?? pod.Str("runAsUser"), Is.EqualTo("1654"));
        Assert.That(File.ReadAllText(Path.Combine(RepoPaths.Root, "Dockerfile")), Does.Contain("USER $APP_UID"));

        var tmp = Container.Items("volumeMounts").SingleOrDefault(m => m.Str("mountPath") == "/tmp");
        Assert.That(tmp, Is.Not.Null, ".NET writes its diagnostics socket to /tmp; the root filesystem is read-only");
        var volume = PodSpec.Items("volumes").Single(v => v.Str("name") == tmp!.Str("name"));
        Assert.That(volume.Get("emptyDir"), Is.Not.Null);
    }

    [Test]
    public void Selectors_PickTheGatewayPods_AndOnlyThem()
    {
        var podLabels = Deployment.Root.Entries("spec.template.metadata.labels");
        var redisLabels = KubernetesManifests.Single("Deployment", "ccx-proxy-redis").Root.Entries("spec.template.metadata.labels");

        var selectors = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["Deployment selector"] = Deployment.Root.Entries("spec.selector.matchLabels"),
            ["Service selector"] = Service.Root.Entries("spec.selector"),
            ["PodDisruptionBudget selector"] = KubernetesManifests.Single("PodDisruptionBudget", "ccx-proxy").Root.Entries("spec.selector.matchLabels"),
            ["Redis NetworkPolicy ingress.from"] = KubernetesManifests.Single("NetworkPolicy", "ccx-proxy-redis").Root.Items("spec.ingress").Single().Items("from").Single().Entries("podSelector.matchLabels"),
        };
        foreach (var (index, constraint) in PodSpec.Items("topologySpreadConstraints").Index())
        {
            selectors[$"topologySpreadConstraints[{index}]"] = constraint.Entries("labelSelector.matchLabels");
        }

        foreach (var (what, selector) in selectors)
        {
            Assert.That(selector, Is.Not.Empty, what);
            Assert.That(podLabels, Is.SupersetOf(selector), $"{what} selects the gateway's pods");
            Assert.That(selector.All(p => redisLabels.GetValueOrDefault(p.Key) == p.Value), Is.False, $"{what} must not select Redis pods");
        }

        var hpa = KubernetesManifests.Single("HorizontalPodAutoscaler", "ccx-proxy").Root;
        Assert.That(hpa.At("spec.scaleTargetRef").Str("kind"), Is.EqualTo("Deployment"));
        Assert.That(hpa.At("spec.scaleTargetRef").Str("name"), Is.EqualTo(Deployment.Name));
    }

    [Test]
    public void SecretRedisConfiguration_PointsAtTheTrialRedisService()
    {
        var redis = KubernetesManifests.Single("Service", "ccx-proxy-redis");
        var endpoint = SecretValues["Redis__Configuration"].Split(',')[0].Trim();

        Assert.That(endpoint, Is.EqualTo($"{redis.Name}:{redis.Root.Items("spec.ports").Single().Str("port")}"));
    }

    [Test]
    public void KubernetesGuide_IsLinkedFromTheReadme()
    {
        var guide = Path.Combine(RepoPaths.Root, "docs", "kubernetes.md");

        Assert.That(File.Exists(guide), Is.True, "docs/kubernetes.md");
        Assert.That(File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")), Does.Contain("(docs/kubernetes.md)"));
        Assert.That(File.ReadAllText(guide), Does.Contain("kubectl apply -k deploy/kubernetes"));
    }

    private static YamlNode ContainerOf(KubernetesObject workload, string name) =>
        workload.Root.Items("spec.template.spec.containers").Single(c => c.Str("name") == name);

    private static JsonNode AppSettings() => JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "appsettings.json")))!;

    private static double Seconds(string? value, string what)
    {
        Assert.That(double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds), Is.True, $"{what}: '{value}' is not a number of seconds");
        return seconds;
    }

    /// <summary>An nginx size (<c>32m</c>, <c>1g</c>, <c>8k</c>, bytes): powers of 1024; 0 means no limit.</summary>
    private static long NginxBytes(string size)
    {
        var match = NginxSize().Match(size);
        Assert.That(match.Success, Is.True, $"'{size}' is not an nginx size");
        var number = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var unit = match.Groups[2].Value.ToUpperInvariant() switch { "K" => 1L << 10, "M" => 1L << 20, "G" => 1L << 30, _ => 1L };
        return number == 0 ? long.MaxValue : number * unit;
    }

    /// <summary>A Gateway API duration (GEP-2257: <c>1h30m</c>, <c>3600s</c>, <c>0s</c>) in seconds.</summary>
    private static double GatewayApiSeconds(string duration)
    {
        var match = GatewayApiDuration().Match(duration);
        Assert.That(match.Success, Is.True, $"'{duration}' is not a Gateway API duration");
        return match.Groups[1].Captures.Zip(match.Groups[2].Captures).Sum(part =>
            double.Parse(part.First.Value, CultureInfo.InvariantCulture) * part.Second.Value switch { "h" => 3600, "m" => 60, "s" => 1, _ => 0.001 });
    }

    /// <summary>
    /// The environment names in the settings table of docs/configuration.md (its second column), and the
    /// prefixes of its wildcard rows (<c>Logging:LogLevel:*</c> → <c>Logging__LogLevel__</c>).
    /// </summary>
    private static (HashSet<string> Names, List<string> Prefixes) DocumentedSettings()
    {
        var doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "configuration.md"));
        var start = doc.IndexOf("## Host settings", StringComparison.Ordinal);
        Assert.That(start, Is.Not.Negative, "docs/configuration.md has a '## Host settings' table");
        var end = doc.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? doc[start..] : doc[start..end];

        var names = new HashSet<string>(StringComparer.Ordinal);
        var prefixes = new List<string>();
        foreach (var line in section.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            var cells = line.Split('|', StringSplitOptions.TrimEntries);
            var setting = Backticked().Match(cells[1]).Groups[1].Value;
            if (setting.EndsWith(":*", StringComparison.Ordinal))
            {
                prefixes.Add(setting[..^1].Replace(":", "__", StringComparison.Ordinal));
            }

            names.UnionWith(Backticked().Matches(cells[2]).Select(m => m.Groups[1].Value).Where(v => EnvironmentName().IsMatch(v)));
        }

        return (names, prefixes);
    }

    private static Task<(int Code, string Output)> RunValidatorAsync(IEnumerable<string> files)
    {
        var installed = Path.Combine(Validator, "node_modules", "kubernetes-models", "package.json");
        Assert.That(File.Exists(installed), Is.True, $"tools/k8s-validate has no node_modules: {InstallHint}");
        return RunAsync("node", [Path.Combine(Validator, "validate.mjs"), .. files]);
    }

    /// <summary>Runs a tool from PATH in the repository root; fails the test (never skips) when it is not there.</summary>
    private static async Task<(int Code, string Output)> RunAsync(string tool, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(tool)
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception ex)
        {
            Assert.Fail($"{tool} is not installed or not on PATH ({ex.Message}): {InstallHint}");
            throw;
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            try
            {
                await process.WaitForExitAsync().WaitAsync(Timeout);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            return (process.ExitCode, await output + await error);
        }
    }
}
