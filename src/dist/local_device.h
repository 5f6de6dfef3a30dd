// local_device.h — one rank per GPU (SPEC §9): the launcher's node-local rank picks the device.
//
// The node-local rank comes from the launcher's environment: OMPI_COMM_WORLD_LOCAL_RANK (OpenMPI's
// mpirun), SLURM_LOCALID (srun), MPI_LOCALRANKID (MPICH, Intel MPI), PMI_LOCAL_RANK; rank l of a node
// with D visible devices uses device l mod D (more ranks than GPUs share them round-robin).
// Jobs that give each rank one device through CUDA_VISIBLE_DEVICES see D = 1: device 0, as wanted.
#pragma once

namespace reco {

// The node-local rank from the environment, or -1 when no launcher variable is set (or it is not a
// non-negative integer).
int launcher_local_rank();

// Make device (local rank mod device count) current for this process's CUDA work; returns it, or -1
// when there is no launcher, no CUDA build or no device (nothing is changed then).
int bind_local_device();

}  // namespace reco
