namespace FastReclaim.Sandbox;

/// <summary>Unicorn's <c>uc_err</c> (2.0.1), in its order.</summary>
public enum UnicornError
{
    /// <summary>UC_ERR_OK: no error.</summary>
    Ok = 0,

    /// <summary>UC_ERR_NOMEM: out of memory.</summary>
    NoMemory,

    /// <summary>UC_ERR_ARCH: unsupported architecture.</summary>
    Architecture,

    /// <summary>UC_ERR_HANDLE: invalid handle.</summary>
    Handle,

    /// <summary>UC_ERR_MODE: invalid or unsupported mode.</summary>
    Mode,

    /// <summary>UC_ERR_VERSION: unsupported version (bindings).</summary>
    Version,

    /// <summary>UC_ERR_READ_UNMAPPED: a read of memory that no region maps.</summary>
    ReadUnmapped,

    /// <summary>UC_ERR_WRITE_UNMAPPED: a write to memory that no region maps.</summary>
    WriteUnmapped,

    /// <summary>UC_ERR_FETCH_UNMAPPED: an instruction fetch from memory that no region maps.</summary>
    FetchUnmapped,

    /// <summary>UC_ERR_HOOK: invalid hook type.</summary>
    Hook,

    /// <summary>UC_ERR_INSN_INVALID: an invalid instruction.</summary>
    InvalidInstruction,

    /// <summary>UC_ERR_MAP: invalid memory mapping (overlap, alignment).</summary>
    Map,

    /// <summary>UC_ERR_WRITE_PROT: a write to a region mapped without write permission.</summary>
    WriteProtected,

    /// <summary>UC_ERR_READ_PROT: a read of a region mapped without read permission.</summary>
    ReadProtected,

    /// <summary>UC_ERR_FETCH_PROT: a fetch from a region mapped without execute permission.</summary>
    FetchProtected,

    /// <summary>UC_ERR_ARG: an invalid argument.</summary>
    Argument,

    /// <summary>UC_ERR_READ_UNALIGNED: an unaligned read.</summary>
    ReadUnaligned,

    /// <summary>UC_ERR_WRITE_UNALIGNED: an unaligned write.</summary>
    WriteUnaligned,

    /// <summary>UC_ERR_FETCH_UNALIGNED: an unaligned fetch.</summary>
    FetchUnaligned,

    /// <summary>UC_ERR_HOOK_EXIST: the hook already exists.</summary>
    HookExists,

    /// <summary>UC_ERR_RESOURCE: insufficient resources.</summary>
    Resource,

    /// <summary>UC_ERR_EXCEPTION: a CPU exception no hook handled.</summary>
    Exception,
}
