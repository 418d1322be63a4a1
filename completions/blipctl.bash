# bash completion for blipctl; generated from the blipctl CLI by scripts/gen_completions.py; do not edit.
# Use: source completions/blipctl.bash

_blipctl_subcommands() {
    case "$1" in
        "") echo "bootstrap caption data eval export finetune pretrain recipes vqa" ;;
        "data") echo "info synth" ;;
        "eval") echo "run score" ;;
        "recipes") echo "list show validate" ;;
    esac
}

_blipctl_options() {
    case "$1" in
        "") echo "--version -h --help" ;;
        "bootstrap") echo "--dry-run -h --help" ;;
        "caption") echo "-h --help --model -m --llm --num-beams --max-length --min-length --top-p --temperature --repetition-penalty --seed --prompt --instruction --batch-size -b --dtype --device --format" ;;
        "data") echo "-h --help" ;;
        "data info") echo "--json -h --help" ;;
        "data synth") echo "-h --help --out -o --images -n --seed --noise" ;;
        "eval") echo "-h --help" ;;
        "eval run") echo "--check --dry-run -h --help --model -m --llm" ;;
        "eval score") echo "--spice --no-spice --json -h --help --task -t --predictions -p --annotations -a" ;;
        "export") echo "-h --help --model -m --llm --to --out -o" ;;
        "finetune") echo "--dry-run -h --help --resume" ;;
        "pretrain") echo "--dry-run -h --help --resume" ;;
        "recipes") echo "-h --help" ;;
        "recipes list") echo "-h --help" ;;
        "recipes show") echo "-h --help" ;;
        "recipes validate") echo "--all -h --help" ;;
        "vqa") echo "-h --help --questions -q --answers --k-test --model -m --llm --num-beams --max-length --min-length --length-penalty --instruction --batch-size -b --dtype --device --format" ;;
    esac
}

_blipctl_value_kind() {
    case "$1|$2" in
        "caption|--model") echo "none" ;;
        "caption|-m") echo "none" ;;
        "caption|--llm") echo "none" ;;
        "caption|--num-beams") echo "none" ;;
        "caption|--max-length") echo "none" ;;
        "caption|--min-length") echo "none" ;;
        "caption|--top-p") echo "none" ;;
        "caption|--temperature") echo "none" ;;
        "caption|--repetition-penalty") echo "none" ;;
        "caption|--seed") echo "none" ;;
        "caption|--prompt") echo "none" ;;
        "caption|--instruction") echo "none" ;;
        "caption|--batch-size") echo "none" ;;
        "caption|-b") echo "none" ;;
        "caption|--dtype") echo "choice:auto fp32 bf16" ;;
        "caption|--device") echo "none" ;;
        "caption|--format") echo "choice:text jsonl" ;;
        "data synth|--out") echo "dir" ;;
        "data synth|-o") echo "dir" ;;
        "data synth|--images") echo "none" ;;
        "data synth|-n") echo "none" ;;
        "data synth|--seed") echo "none" ;;
        "data synth|--noise") echo "none" ;;
        "eval run|--model") echo "none" ;;
        "eval run|-m") echo "none" ;;
        "eval run|--llm") echo "none" ;;
        "eval score|--task") echo "choice:caption vqa retrieval nlvr" ;;
        "eval score|-t") echo "choice:caption vqa retrieval nlvr" ;;
        "eval score|--predictions") echo "file" ;;
        "eval score|-p") echo "file" ;;
        "eval score|--annotations") echo "file" ;;
        "eval score|-a") echo "file" ;;
        "export|--model") echo "none" ;;
        "export|-m") echo "none" ;;
        "export|--llm") echo "none" ;;
        "export|--to") echo "choice:hf blip lavis" ;;
        "export|--out") echo "file" ;;
        "export|-o") echo "file" ;;
        "finetune|--resume") echo "dir" ;;
        "pretrain|--resume") echo "dir" ;;
        "vqa|--questions") echo "file" ;;
        "vqa|-q") echo "file" ;;
        "vqa|--answers") echo "file" ;;
        "vqa|--k-test") echo "none" ;;
        "vqa|--model") echo "none" ;;
        "vqa|-m") echo "none" ;;
        "vqa|--llm") echo "none" ;;
        "vqa|--num-beams") echo "none" ;;
        "vqa|--max-length") echo "none" ;;
        "vqa|--min-length") echo "none" ;;
        "vqa|--length-penalty") echo "none" ;;
        "vqa|--instruction") echo "none" ;;
        "vqa|--batch-size") echo "none" ;;
        "vqa|-b") echo "none" ;;
        "vqa|--dtype") echo "choice:auto fp32 bf16" ;;
        "vqa|--device") echo "none" ;;
        "vqa|--format") echo "choice:text jsonl" ;;
    esac
}

_blipctl_argument_kind() {
    case "$1" in
        "bootstrap") echo "recipe" ;;
        "caption") echo "none" ;;
        "data info") echo "dir" ;;
        "data synth") echo "recipe" ;;
        "eval run") echo "recipe" ;;
        "finetune") echo "recipe" ;;
        "pretrain") echo "recipe" ;;
        "recipes show") echo "recipe" ;;
        "recipes validate") echo "recipe" ;;
        "vqa") echo "none" ;;
    esac
}

_blipctl_recipes="blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa"

_blipctl_complete_kind() {
    local kind="$1" cur="$2"
    case "$kind" in
        dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
        file) COMPREPLY=($(compgen -f -- "$cur")) ;;
        recipe) COMPREPLY=($(compgen -W "$_blipctl_recipes" -- "$cur") $(compgen -f -- "$cur")) ;;
        choice:*) COMPREPLY=($(compgen -W "${kind#choice:}" -- "$cur")) ;;
        *) COMPREPLY=() ;;
    esac
}

_blipctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local cmdpath="" i w kind subs
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        subs=" $(_blipctl_subcommands "$cmdpath") "
        if [[ "$w" != -* && "$subs" == *" $w "* ]]; then cmdpath="${cmdpath:+$cmdpath }$w"; fi
    done
    kind="$(_blipctl_value_kind "$cmdpath" "$prev")"
    if [[ -n "$kind" ]]; then _blipctl_complete_kind "$kind" "$cur"; return; fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_blipctl_options "$cmdpath")" -- "$cur")); return
    fi
    subs="$(_blipctl_subcommands "$cmdpath")"
    if [[ -n "$subs" ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return; fi
    _blipctl_complete_kind "$(_blipctl_argument_kind "$cmdpath")" "$cur"
}

complete -o filenames -F _blipctl blipctl
