using System.Text.Json.Serialization;

namespace Ferry.Compare;

/// <summary>report.json and runs.jsonl: source-generated, so they work in the NativeAOT binary.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ComparisonReport))]
[JsonSerializable(typeof(RunResult))]
[JsonSerializable(typeof(Measuring.GuestObserved))]
public sealed partial class CompareJson : JsonSerializerContext;
