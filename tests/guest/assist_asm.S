/* Test guest "assist": instruction sequences that need exact control of RIP, RSP and RFLAGS. */

    .section .text
    .code64

/* int3, then return; the #BP handler should report RIP == assist_int3_resume (SDM vol 3 §6.5). */
    .globl assist_int3, assist_int3_resume
assist_int3:
    int3
assist_int3_resume:
    ret

/*
 * iretq to the same privilege level through a crafted frame (SDM vol 2 IRET): the frame's
 * RFLAGS has CF set and its RSP is 128 bytes below the caller's, so landing with CF set and
 * that RSP proves both came from the frame. Returns 1 ok, 2 flags wrong, 3 stack wrong.
 */
    .globl assist_iretq
assist_iretq:
    movq %rsp, %r8
    leaq -128(%rsp), %r9
    xorl %eax, %eax
    movw %ss, %ax
    pushq %rax                 /* SS */
    pushq %r9                  /* RSP */
    pushfq
    orq $1, (%rsp)             /* RFLAGS with CF */
    movw %cs, %ax
    pushq %rax                 /* CS */
    leaq 1f(%rip), %rax
    pushq %rax                 /* RIP */
    clc
    iretq
1:  movl $2, %eax
    jnc 2f
    movl $3, %eax
    cmpq %r9, %rsp
    jne 2f
    movl $1, %eax
2:  movq %r8, %rsp
    ret

    .section .note.GNU-stack, "", @progbits
