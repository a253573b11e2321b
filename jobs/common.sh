# Shared by jobs/slurm_pretrain.sh and jobs/torchrun_pretrain.sh (sourced, not run).

# hostnames LIST: one host per line from a SLURM nodelist ("node[01-03,07],gpu5"), through scontrol where it exists,
# else expanded here (a bracket group of numbers and ranges per comma-separated item, zero padding kept).
hostnames() {
    if command -v scontrol >/dev/null 2>&1; then scontrol show hostnames "$1"; return; fi
    local list=$1 item prefix body part a b i
    while [[ -n $list ]]; do
        if [[ $list =~ ^([^,\[]*)\[([^]]*)\](.*)$ && ! ${BASH_REMATCH[1]} == *,* ]]; then
            prefix=${BASH_REMATCH[1]}; body=${BASH_REMATCH[2]}; list=${BASH_REMATCH[3]#,}
            IFS=, read -ra parts <<< "$body"
            for part in "${parts[@]}"; do
                a=${part%-*}; b=${part#*-}
                for ((i = 10#$a; i <= 10#$b; i++)); do printf '%s%0*d\n' "$prefix" "${#a}" "$i"; done
            done
        else
            item=${list%%,*}; [[ $list == *,* ]] && list=${list#*,} || list=
            [[ -n $item ]] && echo "$item"
        fi
    done
}

# show CMD...: print the command on one line, shell-quoted (what --dry-run prints).
show() { local line; printf -v line '%q ' "$@"; echo "${line% }"; }
