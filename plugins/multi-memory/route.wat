;; A routing application made of three core instances, each with its own linear memory,
;; for the host's memory budget: the budget covers all the memories of an invocation
;; together, so growing two of them by 80 MiB each must be refused although each alone
;; would fit the 128 MiB default.
;;
;; `route` grows the memory of instance `first` by 80 MiB, then that of instance
;; `second` by 80 MiB, then traps. A host that limits each memory alone lets both grow
;; and reports a plain trap; one that sums them refuses the second growth, and the call
;; ends as out of memory. It never returns, so its result needs no encoding.
;;
;; The memories are in separate core instances (one module instantiated twice), as a
;; real multi-module component has them; the types are those of wit/, version 0.1.1.
;; plugins/build.sh turns this text into plugins/dist/multi-memory.wasm with
;; `wasm-tools parse`.
(component
  (type $ty-switchyard:routing/types@0.1.1 (;0;)
    (instance
      (type (;0;) (enum "sms" "email" "device"))
      (export (;1;) "channel" (type (eq 0)))
      (type (;2;) (record (field "name" string) (field "mime-type" string) (field "size" u64)))
      (export (;3;) "attachment" (type (eq 2)))
      (type (;4;) (option string))
      (type (;5;) (list 3))
      (type (;6;) (tuple string string))
      (type (;7;) (list 6))
      (type (;8;) (record (field "id" string) (field "channel" 1) (field "sender" string) (field "recipient" string) (field "subject" 4) (field "body" string) (field "received-at" u64) (field "attachments" 5) (field "attributes" 7)))
      (export (;9;) "inbound-message" (type (eq 8)))
      (type (;10;) (record (field "id" string) (field "name" string) (field "recipient" string) (field "settings" string)))
      (export (;11;) "connector-context" (type (eq 10)))
      (type (;12;) (enum "not-contacted" "new" "in-progress" "closed" "in-a-flow"))
      (export (;13;) "conversation-status" (type (eq 12)))
      (type (;14;) (list string))
      (type (;15;) (record (field "status" 13) (field "tags" 14)))
      (export (;16;) "conversation" (type (eq 15)))
      (type (;17;) (record (field "group" string) (field "priority" u32) (field "subject" 4) (field "user-data" 7)))
      (export (;18;) "group-target" (type (eq 17)))
      (type (;19;) (variant (case "acd-group" 18) (case "reject" string) (case "drop")))
      (export (;20;) "target" (type (eq 19)))
      (type (;21;) (record (field "channel" 1) (field "recipient" 4) (field "subject" 4) (field "body" string)))
      (export (;22;) "outbound-reply" (type (eq 21)))
      (type (;23;) (option 13))
      (type (;24;) (list 22))
      (type (;25;) (record (field "target" 20) (field "status" 23) (field "tags" 14) (field "replies" 24)))
      (export (;26;) "decision" (type (eq 25)))
    )
  )
  (import "switchyard:routing/types@0.1.1" (instance $switchyard:routing/types@0.1.1 (;0;) (type $ty-switchyard:routing/types@0.1.1)))
  (alias export $switchyard:routing/types@0.1.1 "inbound-message" (type $inbound-message (;1;)))
  (import "inbound-message" (type $"#type2 inbound-message" (@name "inbound-message") (;2;) (eq $inbound-message)))
  (alias export $switchyard:routing/types@0.1.1 "connector-context" (type $connector-context (;3;)))
  (import "connector-context" (type $"#type4 connector-context" (@name "connector-context") (;4;) (eq $connector-context)))
  (alias export $switchyard:routing/types@0.1.1 "conversation" (type $conversation (;5;)))
  (import "conversation" (type $"#type6 conversation" (@name "conversation") (;6;) (eq $conversation)))
  (alias export $switchyard:routing/types@0.1.1 "decision" (type $decision (;7;)))
  (import "decision" (type $"#type8 decision" (@name "decision") (;8;) (eq $decision)))

  ;; Holds one memory and grows it on request, touching the last new page so the
  ;; memory is really used.
  (core module $grower
    (memory 0)
    (func (export "grow") (param $pages i32) (result i32)
      (local $before i32)
      (local.set $before (memory.grow (local.get $pages)))
      (if (i32.eq (local.get $before) (i32.const -1))
        (then (return (i32.const -1))))
      (i32.store8
        (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))
        (i32.const 1))
      (local.get $before)))

  (core module $main
    (import "first" "grow" (func $grow-first (param i32) (result i32)))
    (import "second" "grow" (func $grow-second (param i32) (result i32)))
    ;; The canonical ABI's memory: the arguments are written here by cabi_realloc.
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))

    ;; A bump allocator, growing the memory as the arguments need.
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local $end i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (local.set $end (i32.add (local.get $at) (local.get 3)))
      (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
        (then
          (if (i32.eq
                (memory.grow
                  (i32.add
                    (i32.shr_u
                      (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                      (i32.const 16))
                    (i32.const 1)))
                (i32.const -1))
            (then unreachable))))
      (global.set $next (local.get $end))
      (local.get $at))

    ;; 1280 pages of 64 KiB are 80 MiB.
    (func (export "route") (param i32) (result i32)
      (if (i32.eq (call $grow-first (i32.const 1280)) (i32.const -1))
        (then unreachable))
      (if (i32.eq (call $grow-second (i32.const 1280)) (i32.const -1))
        (then unreachable))
      ;; Both grew: only a host that limits each memory alone gets here.
      unreachable))

  (core instance $first (instantiate $grower))
  (core instance $second (instantiate $grower))
  (core instance $main
    (instantiate $main
      (with "first" (instance $first))
      (with "second" (instance $second))))
  (alias core export $main "memory" (core memory $memory))
  (alias core export $main "route" (core func $route))
  (alias core export $main "cabi_realloc" (core func $cabi_realloc))
  (type $route-type
    (func
      (param "message" $"#type2 inbound-message")
      (param "connector" $"#type4 connector-context")
      (param "conversation" $"#type6 conversation")
      (result $"#type8 decision")))
  (func $route
    (type $route-type)
    (canon lift (core func $route) (memory $memory) (realloc $cabi_realloc)
      string-encoding=utf8))
  (export "route" (func $route))
)
