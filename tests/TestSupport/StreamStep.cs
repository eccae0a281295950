namespace CcxProxy.TestSupport;

/// <summary>
/// One step of a scripted streamed answer: an SSE frame, a pause, a wait on a gate the test
/// releases, raw bytes, or a cut connection. Build them with the static factories here or with
/// the event builders of <see cref="FakeAnthropic"/> and <see cref="FakeOpenAI"/>.
/// </summary>
public abstract record StreamStep
{
    private protected StreamStep()
    {
    }

    /// <summary>What this step writes on the wire: an SSE frame or raw text; null for a pause, a gate or a cut.</summary>
    public virtual string? WireText => null;

    /// <summary>An SSE frame: <c>event: Name</c> (omitted when null) and one <c>data:</c> line.</summary>
    /// <param name="Name">The SSE event name, or null for a data-only frame (OpenAI).</param>
    /// <param name="Data">The data line, usually compact JSON; must not contain a newline.</param>
    public sealed record Frame(string? Name, string Data) : StreamStep
    {
        /// <inheritdoc/>
        public override string? WireText => Name is null ? $"data: {Data}\n\n" : $"event: {Name}\ndata: {Data}\n\n";
    }

    /// <summary>Waits before the next step.</summary>
    /// <param name="Duration">How long to wait.</param>
    public sealed record Pause(TimeSpan Duration) : StreamStep;

    /// <summary>Waits until <paramref name="Gate"/> completes (or the client goes away).</summary>
    /// <param name="Gate">Typically a <see cref="TaskCompletionSource"/>'s task that the test completes.</param>
    public sealed record WaitFor(Task Gate) : StreamStep;

    /// <summary>Writes text as is (UTF-8) and flushes: for malformed or split frames.</summary>
    /// <param name="Text">The exact text to write.</param>
    public sealed record RawText(string Text) : StreamStep
    {
        /// <inheritdoc/>
        public override string? WireText => Text;
    }

    /// <summary>Cuts the connection (<see cref="Microsoft.AspNetCore.Http.HttpContext.Abort"/>) and ends the stream.</summary>
    public sealed record AbortConnection : StreamStep;

    /// <summary>An SSE frame with an event name and a JSON payload.</summary>
    /// <param name="type">The SSE event name.</param>
    /// <param name="data">The payload, written as compact JSON.</param>
    /// <returns>The step.</returns>
    public static StreamStep Event(string type, System.Text.Json.Nodes.JsonNode data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new Frame(type, data.ToJsonString());
    }

    /// <summary>A data-only SSE frame (<c>data: text</c>), as OpenAI sends.</summary>
    /// <param name="data">The data line.</param>
    /// <returns>The step.</returns>
    public static StreamStep DataOnly(string data) => new Frame(null, data);

    /// <summary>Waits before the next step.</summary>
    /// <param name="duration">How long to wait.</param>
    /// <returns>The step.</returns>
    public static StreamStep Delay(TimeSpan duration) => new Pause(duration);

    /// <summary>Waits until <paramref name="gate"/> completes.</summary>
    /// <param name="gate">The gate the test releases.</param>
    /// <returns>The step.</returns>
    public static StreamStep Wait(Task gate) => new WaitFor(gate);

    /// <summary>Writes text as is and flushes.</summary>
    /// <param name="text">The exact text to write.</param>
    /// <returns>The step.</returns>
    public static StreamStep Raw(string text) => new RawText(text);

    /// <summary>Cuts the connection mid-stream.</summary>
    /// <returns>The step.</returns>
    public static StreamStep Abort() => new AbortConnection();
}
