namespace FastReclaim.Sandbox;

/// <summary><c>KVM_EXIT_*</c>: why <c>KVM_RUN</c> returned to user space (the ones this host handles or reports).</summary>
internal enum KvmExitReason : uint
{
    /// <summary>KVM_EXIT_UNKNOWN (0).</summary>
    Unknown = 0,
    /// <summary>KVM_EXIT_EXCEPTION (1).</summary>
    Exception = 1,
    /// <summary>KVM_EXIT_IO (2): the guest executed IN/OUT on a port.</summary>
    Io = 2,
    /// <summary>KVM_EXIT_HYPERCALL (3).</summary>
    Hypercall = 3,
    /// <summary>KVM_EXIT_DEBUG (4).</summary>
    Debug = 4,
    /// <summary>KVM_EXIT_HLT (5): the guest halted with interrupts off.</summary>
    Halt = 5,
    /// <summary>KVM_EXIT_MMIO (6): an access to guest-physical memory with no memory slot.</summary>
    Mmio = 6,
    /// <summary>KVM_EXIT_SHUTDOWN (8): triple fault.</summary>
    Shutdown = 8,
    /// <summary>KVM_EXIT_FAIL_ENTRY (9): the hardware refused the guest state.</summary>
    FailEntry = 9,
    /// <summary>KVM_EXIT_INTR (10): a signal interrupted KVM_RUN.</summary>
    Interrupted = 10,
    /// <summary>KVM_EXIT_INTERNAL_ERROR (17): KVM could not emulate or deliver something.</summary>
    InternalError = 17,
}
