namespace CcxProxy.Transforms.Sse;

/// <summary>One Server-Sent Events frame, or one comment line, as read off the wire.</summary>
/// <param name="EventType">
/// The value of the frame's <c>event:</c> field; <see langword="null"/> when the frame had no
/// (or an empty) <c>event:</c> line.
/// </param>
/// <param name="Data">
/// The frame's <c>data:</c> lines joined with <c>"\n"</c> (HTML "event stream interpretation").
/// For a comment, the comment text without the leading <c>':'</c> and one optional space.
/// </param>
/// <param name="Id">
/// The frame's own <c>id:</c> field, or <see langword="null"/>. Unlike the browser's "last event ID",
/// it does not carry over to later frames: a proxy re-emits what each frame said.
/// </param>
/// <param name="IsComment"><see langword="true"/> for a comment line such as <c>": keep-alive"</c>.</param>
public readonly record struct SseEvent(string? EventType, string Data, string? Id, bool IsComment);
