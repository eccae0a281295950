using System.Text;

namespace CcxProxy.Transforms.Sse;

/// <summary>One Server-Sent Events frame, or one comment line, as read off the wire.</summary>
/// <remarks>
/// <para>
/// <b>Lifetime: an event returned by <see cref="SseReader.ReadAsync"/> borrows the reader's pooled
/// buffer.</b> Its <see cref="DataUtf8"/> (and so <see cref="Data"/>) is valid only until the next
/// <see cref="SseReader.ReadAsync"/> or <see cref="SseReader.DisposeAsync"/> call on that reader; after
/// that the bytes are overwritten or back in the pool. Convert or copy the event before reading the
/// next one; call <see cref="Detach"/> to keep it longer (tests, collections).
/// </para>
/// <para>
/// Equality compares the data by content, not by buffer.
/// </para>
/// </remarks>
public readonly record struct SseEvent
{
    /// <summary>An event whose data is already UTF-8. The event does not copy <paramref name="DataUtf8"/>.</summary>
    /// <param name="EventType">The value of the frame's <c>event:</c> field, or <see langword="null"/>.</param>
    /// <param name="DataUtf8">The frame's data (or the comment's text) as UTF-8.</param>
    /// <param name="Id">The frame's own <c>id:</c> field, or <see langword="null"/>.</param>
    /// <param name="IsComment"><see langword="true"/> for a comment line.</param>
    public SseEvent(string? EventType, ReadOnlyMemory<byte> DataUtf8, string? Id, bool IsComment)
    {
        this.EventType = EventType;
        this.DataUtf8 = DataUtf8;
        this.Id = Id;
        this.IsComment = IsComment;
    }

    /// <summary>An event from a string (tests, rare callers): <paramref name="Data"/> is encoded to a new UTF-8 array.</summary>
    /// <param name="EventType">The value of the frame's <c>event:</c> field, or <see langword="null"/>.</param>
    /// <param name="Data">The frame's data (or the comment's text).</param>
    /// <param name="Id">The frame's own <c>id:</c> field, or <see langword="null"/>.</param>
    /// <param name="IsComment"><see langword="true"/> for a comment line.</param>
    public SseEvent(string? EventType, string Data, string? Id, bool IsComment)
        : this(EventType, Encoding.UTF8.GetBytes(Data ?? throw new ArgumentNullException(nameof(Data))), Id, IsComment)
    {
    }

    /// <summary>
    /// The value of the frame's <c>event:</c> field; <see langword="null"/> when the frame had no
    /// (or an empty) <c>event:</c> line.
    /// </summary>
    public string? EventType { get; init; }

    /// <summary>
    /// The frame's <c>data:</c> lines joined with <c>"\n"</c> (HTML "event stream interpretation"), as
    /// valid UTF-8 (the reader replaces invalid sequences with U+FFFD, as decoding to a string would).
    /// For a comment, the comment text without the leading <c>':'</c> and one optional space.
    /// <b>From <see cref="SseReader"/>: a slice of the reader's pooled buffer, valid only until the next
    /// <see cref="SseReader.ReadAsync"/> call.</b>
    /// </summary>
    public ReadOnlyMemory<byte> DataUtf8 { get; init; }

    /// <summary>
    /// The frame's <c>id:</c> field. Unlike the browser's "last event ID", it does not carry over to
    /// later frames: a proxy re-emits what each frame said.
    /// </summary>
    public string? Id { get; init; }

    /// <summary><see langword="true"/> for a comment line such as <c>": keep-alive"</c>.</summary>
    public bool IsComment { get; init; }

    /// <summary>
    /// <see cref="DataUtf8"/> decoded to a new string on every call: for tests and rare callers. Hot paths
    /// read <see cref="DataUtf8"/>. Same lifetime rule as <see cref="DataUtf8"/>.
    /// </summary>
    public string Data => Encoding.UTF8.GetString(DataUtf8.Span);

    /// <summary>A copy whose data is its own array, valid after the reader moves on.</summary>
    /// <returns>The same event, with <see cref="DataUtf8"/> copied.</returns>
    public SseEvent Detach() => this with { DataUtf8 = DataUtf8.ToArray() };

    /// <summary>Same type, id, comment flag and data bytes.</summary>
    /// <param name="other">The event to compare with.</param>
    /// <returns><see langword="true"/> when they are equal.</returns>
    public bool Equals(SseEvent other) =>
        string.Equals(EventType, other.EventType, StringComparison.Ordinal)
        && string.Equals(Id, other.Id, StringComparison.Ordinal)
        && IsComment == other.IsComment
        && DataUtf8.Span.SequenceEqual(other.DataUtf8.Span);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        hash.Add(EventType, StringComparer.Ordinal);
        hash.Add(Id, StringComparer.Ordinal);
        hash.Add(IsComment);
        hash.AddBytes(DataUtf8.Span);
        return hash.ToHashCode();
    }

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("EventType = ").Append(EventType)
            .Append(", Data = ").Append(Data)
            .Append(", Id = ").Append(Id)
            .Append(", IsComment = ").Append(IsComment);
        return true;
    }
}
