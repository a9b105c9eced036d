using System.Text.Json;

namespace Ferry.Agent.Vms;

/// <summary>The VM records on disk: one folder per VM, its vm.json replaced atomically.</summary>
public sealed class VmStore(StateDirectory state)
{
    public IReadOnlyList<VmRecord> LoadAll()
    {
        if (!Directory.Exists(state.VmsDirectory)) return [];
        var records = new List<VmRecord>();
        foreach (string folder in Directory.EnumerateDirectories(state.VmsDirectory))
        {
            string path = Path.Combine(folder, "vm.json");
            if (!File.Exists(path)) continue;
            var record = JsonSerializer.Deserialize(File.ReadAllBytes(path), AgentJson.Default.VmRecord)
                         ?? throw new InvalidDataException($"{path} is empty");
            records.Add(record);
        }
        return records;
    }

    public void Save(VmRecord record)
    {
        Directory.CreateDirectory(state.VmDirectory(record.Name));
        StateDirectory.WriteAtomically(state.VmRecordPath(record.Name), JsonSerializer.SerializeToUtf8Bytes(record, AgentJson.Default.VmRecord));
    }

    public void Delete(string name) => Directory.Delete(state.VmDirectory(name), recursive: true);
}
