using System.Text.Json.Serialization;

namespace Ferry.Api;

/// <summary>Source-generated JSON for the control API: no reflection, so it works in the NativeAOT ferry binary.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(VmStatus))]
[JsonSerializable(typeof(PauseResult))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(ApiOk))]
[JsonSerializable(typeof(SnapshotRequest))]
[JsonSerializable(typeof(MigrateRequest))]
[JsonSerializable(typeof(RecoverRequest))]
[JsonSerializable(typeof(ResumeRequest))]
[JsonSerializable(typeof(OperationStatus))]
[JsonSerializable(typeof(StandbyClaim))]
public sealed partial class ApiJson : JsonSerializerContext;
